"""Window statistics joined into shards: a shard judged against the whole window's chance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detectors.chance import chance_frame, combine_parts, window_chance
from detectors.infra import IpFarmParams, PostCommunities, shared_infrastructure
from detectors.lockstep import LockstepParams, lockstep_groups
from features.arrays import codes
from features.contract import clean_events
from features.dedup import distinct_engagements
from training.simulator import SimConfig, simulate


@pytest.fixture(scope="module")
def window() -> pd.DataFrame:
    events = simulate(SimConfig(seed=3, scale=0.5)).events
    return distinct_engagements(clean_events(events, source="sim").frame).reset_index(drop=True)


def _shards(window: pd.DataFrame) -> list[pd.DataFrame]:
    """The window split by platform, and the largest platform again by creator (posts never split)."""
    platform = window["platform"].astype("str")
    largest = platform.value_counts().index[0]
    creator = window["creator_id"].astype("str")
    half = creator.isin(sorted(creator[platform == largest].unique())[::2])
    keys = np.where(platform == largest, np.where(half, largest + ".0", largest + ".1"), platform)
    return [window[keys == k].reset_index(drop=True) for k in sorted(set(keys))]


def test_the_window_statistics_are_the_combination_of_its_shards(window: pd.DataFrame) -> None:
    parts = pd.concat([chance_frame(shard) for shard in _shards(window)], ignore_index=True)
    combined = combine_parts(parts).sort_values(["statistic", "key"], ignore_index=True)
    whole = chance_frame(window).sort_values(["statistic", "key"], ignore_index=True)
    pd.testing.assert_frame_equal(combined, whole)
    assert len(parts) > len(whole)  # IPs seen in several shards were summed


def test_a_shard_with_the_window_chance_finds_the_windows_ip_farms(window: pd.DataFrame) -> None:
    params = IpFarmParams()
    chance = window_chance(combine_parts(pd.concat([chance_frame(s) for s in _shards(window)])))
    whole = shared_infrastructure(window, params=params)
    by_event = pd.Series(whole.event_score, index=window["event_id"].astype("str"))
    changed_alone = 0
    for shard in _shards(window):
        joined = shared_infrastructure(shard, params=params, chance=chance.ip)
        alone = shared_infrastructure(shard, params=params)
        expected = by_event.loc[shard["event_id"].astype("str")].to_numpy()
        np.testing.assert_array_equal(joined.event_score, expected)
        changed_alone += int((alone.event_score != expected).sum())
    assert changed_alone > 0  # without the window's chance, some shard judges differently


def test_shards_judge_ip_farms_within_the_windows_audience_communities(window: pd.DataFrame) -> None:
    # communities labelled per platform and creator parity; a shard holds some of them
    creator = codes(window["creator_id"])
    label = window["platform"].astype("str") + "/" + pd.Series(creator % 2).astype("str")
    code, names = pd.factorize(label)
    communities = PostCommunities(np.asarray(code, dtype=np.int64), pd.Index(names, dtype="str"))
    params = IpFarmParams(min_lift=4.0, max_log10_p=-4.0)  # low floors: many pairs decided
    parts = []
    for shard in _shards(window):
        rows = window["event_id"].isin(shard["event_id"]).to_numpy()
        parts.append(chance_frame(shard, communities=_rows(communities, rows)))
    chance = window_chance(combine_parts(pd.concat(parts)))
    whole = shared_infrastructure(window, params=params, communities=communities)
    assert (whole.event_score > 0).sum() > 0
    by_event = pd.Series(whole.event_score, index=window["event_id"].astype("str"))
    for shard in _shards(window):
        rows = window["event_id"].isin(shard["event_id"]).to_numpy()
        joined = shared_infrastructure(
            shard, params=params, chance=chance.ip, communities=_rows(communities, rows)
        )
        expected = by_event.loc[shard["event_id"].astype("str")].to_numpy()
        np.testing.assert_allclose(joined.event_score, expected)


def _rows(communities: PostCommunities, rows: np.ndarray) -> PostCommunities:
    """The communities of some rows (the shard's, in window order as ``_shards`` keeps them)."""
    return PostCommunities(communities.code[rows], communities.labels)


def test_lockstep_on_a_shard_reads_the_window_grid_and_size(window: pd.DataFrame) -> None:
    chance = window_chance(chance_frame(window)).lockstep
    assert chance is not None
    shard = _shards(window)[0]
    grid = lockstep_groups(shard, params=LockstepParams(), chance=chance)
    assert len(grid.event_score) == len(shard)
    assert chance.t0_us == int(window["ts"].min().value // 1000)
