"""Spreading across shards: an account's evidence added up over the shards it engages in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detectors.base import Detection
from detectors.chance import chance_frame, window_chance
from detectors.infra import IpFarmParams, shared_infrastructure
from detectors.spread import SpreadParams, spread_part, spread_to_accounts
from features.contract import clean_events
from features.dedup import distinct_engagements
from training.simulator import SimConfig, simulate


@pytest.fixture(scope="module")
def window() -> pd.DataFrame:
    events = simulate(SimConfig(seed=3, scale=0.5)).events
    return distinct_engagements(clean_events(events, source="sim").frame).reset_index(drop=True)


def _shard_keys(window: pd.DataFrame) -> np.ndarray:
    """Each platform split in two by creator, as an engagement-graph split never splits a post."""
    platform = window["platform"].astype("str").to_numpy()
    creator = window["creator_id"].astype("str")
    half = creator.isin(sorted(creator.unique())[::2]).to_numpy()
    return np.where(half, np.char.add(platform.astype(str), ".0"), np.char.add(platform.astype(str), ".1"))


def _rows(detection: Detection, keep: np.ndarray) -> Detection:
    return Detection(
        detection.name, detection.event_score[keep], detection.event_group[keep], detection.groups
    )


def test_shards_spread_with_the_window_evidence_as_the_whole_window_does(window: pd.DataFrame) -> None:
    params = SpreadParams()
    chance = window_chance(chance_frame(window)).ip
    found = shared_infrastructure(window, params=IpFarmParams(), chance=chance)
    whole = spread_to_accounts(found, window, params=params)
    keys = _shard_keys(window)
    shards = [(keys == k, window[keys == k].reset_index(drop=True)) for k in sorted(set(keys))]
    parts = pd.concat([spread_part(_rows(found, keep), shard, params=params) for keep, shard in shards])
    evidence = parts.groupby(["detector", "user_id"], as_index=False).agg(
        caught=("caught", "sum"), total=("total", "sum"), strongest=("strongest", "max")
    )
    evidence = evidence[evidence["caught"] > 0]
    changed_alone = 0
    for keep, shard in shards:
        joined = spread_to_accounts(_rows(found, keep), shard, params=params, window=evidence)
        alone = spread_to_accounts(_rows(found, keep), shard, params=params)
        np.testing.assert_array_equal(joined.event_score, whole.event_score[keep])
        changed_alone += int((alone.event_score != whole.event_score[keep]).sum())
    assert changed_alone > 0  # with only its own shard's engagements, some account spreads differently


def test_a_creators_own_account_spreads_nothing_in_a_shard_without_its_posts() -> None:
    # creator c1's posts are in shard A; its own account engages four posts of shard B, three of them
    # caught in a group: on the whole window it is a creator's account and spreads nothing
    window = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "c1", "c1", "c1", "c1"],
            "post_id": ["pa", "pa", "pb1", "pb2", "pb3", "pb4"],
            "creator_id": ["c1", "c1", "c2", "c2", "c3", "c4"],
        }
    ).astype("category")
    found = Detection(
        "dense_block",
        np.array([0.0, 0.0, 0.8, 0.8, 0.8, 0.0]),
        np.array([-1, -1, 0, 0, 0, -1]),
        pd.DataFrame({"group_id": [0]}),
    )
    params = SpreadParams()
    whole = spread_to_accounts(found, window, params=params)
    in_b = np.arange(2, 6)
    shard_b = window.iloc[in_b].reset_index(drop=True).astype("str").astype("category")
    alone = spread_to_accounts(_rows(found, in_b), shard_b, params=params)
    joined = spread_to_accounts(
        _rows(found, in_b), shard_b, params=params, creators=pd.Index(["c1", "c2", "c3", "c4"])
    )
    assert whole.event_score[5] == 0.0 and alone.event_score[3] > 0.0  # alone, c1 looks like a worker
    np.testing.assert_array_equal(joined.event_score, whole.event_score[in_b])


def _strongest_sentences(
    found: Detection, window: pd.DataFrame, *, params: SpreadParams
) -> set[tuple[str, str]]:
    """(account, sentence) of the groups of each account's strongest caught engagements."""
    caught = found.event_score >= params.min_caught_score
    rows = pd.DataFrame(
        {"user_id": window["user_id"].astype("str"), "score": found.event_score, "group": found.event_group}
    )[caught]
    top = rows[rows["score"] == rows.groupby("user_id")["score"].transform("max")]
    sentences = found.groups.set_index("group_id")["evidence"].reindex(top["group"]).to_numpy()
    return set(zip(top["user_id"], sentences, strict=True))


def test_shards_give_an_account_caught_elsewhere_the_sentence_of_its_strongest_catch(
    window: pd.DataFrame,
) -> None:
    params = SpreadParams()
    chance = window_chance(chance_frame(window)).ip
    found = shared_infrastructure(window, params=IpFarmParams(), chance=chance)
    whole = spread_to_accounts(found, window, params=params)
    keys = _shard_keys(window)
    shards = [(keys == k, window[keys == k].reset_index(drop=True)) for k in sorted(set(keys))]
    parts = pd.concat([spread_part(_rows(found, keep), shard, params=params) for keep, shard in shards])
    # as Spark combines them: the sentence of the strongest catch (on a tie, the greatest sentence)
    ranked = parts.sort_values(["strongest", "evidence"], na_position="first")
    evidence = ranked.groupby(["detector", "user_id"], as_index=False).agg(
        caught=("caught", "sum"),
        total=("total", "sum"),
        strongest=("strongest", "max"),
        evidence=("evidence", "last"),
    )
    evidence = evidence[evidence["caught"] > 0]
    strongest = _strongest_sentences(found, window, params=params)
    said: list[tuple[str, str]] = []
    unexplained_alone = 0
    for keep, shard in shards:
        joined = spread_to_accounts(_rows(found, keep), shard, params=params, window=evidence)
        alone = spread_to_accounts(_rows(found, keep), shard, params=params)
        np.testing.assert_array_equal(joined.event_score, whole.event_score[keep])
        # every event the whole window explains by a spread group is explained in its shard...
        spread = (whole.event_group[keep] >= 0) & (found.event_score[keep] < whole.event_score[keep])
        assert (joined.event_group[spread] >= 0).all()
        sentences = joined.groups.set_index("group_id")["evidence"].reindex(joined.event_group[spread])
        said += list(zip(shard["user_id"].astype("str")[spread], sentences, strict=True))
        unexplained_alone += int((alone.event_group[spread] < 0).sum())
    # ...by the sentence of one of its account's strongest catches, as the whole window explains it
    assert len(said) > 100 and set(said) <= strongest
    assert unexplained_alone > 0  # alone, a shard leaves some account caught elsewhere unexplained
