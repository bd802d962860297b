"""Audiences kept from the history (``detectors.audiences._kept``): found once on the history, carried
on its rows and through a kept state, and a window's new creators placed into them, on planted data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import (
    AUDIENCE_COLUMNS,
    AudienceParams,
    Audiences,
    audience_columns,
    find_audiences,
    kept_audiences,
)
from detectors.params import ScoringParams
from detectors.scorer import history_engagements, prepared_history
from features.contract import clean_events
from serving.history_state import PreparedHistory, StateKey, load_or_build
from training.simulator import SimConfig, simulate

PARAMS = AudienceParams()


def _fans(
    rng: np.random.Generator, creators: list[str], n_fans: int, prefix: str
) -> list[tuple[str, str, str]]:
    """Light fans of one audience: each engages one post of 2-4 of its creators."""
    rows = []
    for fan in range(n_fans):
        for creator in rng.choice(creators, size=int(rng.integers(2, 5)), replace=False):
            rows.append((f"{prefix}{fan}", f"{creator}-p{int(rng.integers(3))}", str(creator)))
    return rows


def _frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_id", "post_id", "creator_id"])
    return frame.assign(platform="douyin")


def _audiences(seed: int = 0) -> tuple[np.random.Generator, pd.DataFrame]:
    """A platform of two audiences that rarely meet: creators a0-a5 and b0-b5, 150 fans each, and 10
    accounts that engage one creator of each."""
    rng = np.random.default_rng(seed)
    a, b = [f"a{i}" for i in range(6)], [f"b{i}" for i in range(6)]
    mixed = [(f"m{i}", f"{a[i % 6]}-p0", a[i % 6]) for i in range(10)]
    mixed += [(f"m{i}", f"{b[i % 6]}-p1", b[i % 6]) for i in range(10)]
    return rng, _frame(_fans(rng, a, 150, "fa") + _fans(rng, b, 150, "fb") + mixed)


def _community_of(audiences: Audiences, frame: pd.DataFrame) -> dict[str, int]:
    """Per creator: its community (every post of a creator is in its unit)."""
    post = audiences.units(pd.Index(frame["post_id"]))
    community = audiences.communities(post)
    return dict(zip(frame["creator_id"], community.tolist(), strict=True))


def test_the_historys_audiences_read_back_from_its_rows_are_the_ones_found_on_it():
    _, history = _audiences()
    found = find_audiences(history, studios=None, params=PARAMS)
    assert found.n_communities == 2
    columns = audience_columns(history, found)
    kept = kept_audiences(
        history.assign(**{name: columns[:, k] for k, name in enumerate(AUDIENCE_COLUMNS)}),
        studios=None,
        params=PARAMS,
    )
    for mine, theirs in ((kept, found), (kept.for_pool(), found.for_pool())):
        assert np.array_equal(mine.post_unit, theirs.post_unit)
        assert np.array_equal(mine.unit_community, theirs.unit_community)
        assert np.array_equal(mine.unit_region, theirs.unit_region)
        assert np.array_equal(mine.unit_part, theirs.unit_part)
    assert np.array_equal(
        kept.for_pool().for_search().unit_community, found.for_pool().for_search().unit_community
    )


def _union(history: pd.DataFrame, window: pd.DataFrame) -> pd.DataFrame:
    """The history's rows with its kept audiences, then the window's without them (-1)."""
    columns = audience_columns(history, find_audiences(history, studios=None, params=PARAMS))
    kept = history.assign(**{name: columns[:, k] for k, name in enumerate(AUDIENCE_COLUMNS)})
    fresh = window.assign(**{name: -1 for name in AUDIENCE_COLUMNS})
    return pd.concat([fresh, kept], ignore_index=True)


def test_new_creators_join_the_audience_they_share_fans_with_and_a_new_audience_is_found():
    rng, history = _audiences()
    a, b = [f"a{i}" for i in range(6)], [f"b{i}" for i in range(6)]
    c = [f"c{i}" for i in range(6)]
    # the window: the two audiences go on, a6 is a new creator of audience a, and c0-c5 are new
    # creators whose fans form an audience of their own
    window = _frame(
        _fans(rng, [*a, "a6"], 150, "fa")
        + _fans(rng, b, 150, "fb")
        + _fans(rng, c, 150, "fc")
        + [(f"fa{i}", "a6-p0", "a6") for i in range(40)]
    )
    union = _union(history, window)
    kept = kept_audiences(union, studios=None, params=PARAMS)
    community = _community_of(kept, union)
    assert len({community[x] for x in a}) == 1
    assert len({community[x] for x in b}) == 1
    assert len({community[x] for x in c}) == 1
    assert community["a6"] == community["a0"]
    assert len({community["a0"], community["b0"], community["c0"]}) == 3
    assert kept.n_communities == 3
    # the same partition as Louvain on the union finds (the kept audiences replace it)
    found = find_audiences(union.drop(columns=list(AUDIENCE_COLUMNS)), studios=None, params=PARAMS)
    theirs = _community_of(found, union)
    assert all(
        (community[x] == community[y]) == (theirs[x] == theirs[y]) for x in community for y in community
    )


def test_a_window_of_known_creators_only_keeps_the_historys_audiences():
    rng, history = _audiences()
    a, b = [f"a{i}" for i in range(6)], [f"b{i}" for i in range(6)]
    # a seller's order in the window ties a and b creators: the history's audiences stay
    order = [(f"s{i}", f"{creator}-p2", creator) for i in range(30) for creator in (a[0], a[1], b[0], b[1])]
    union = _union(history, _frame(_fans(rng, a, 50, "fa") + _fans(rng, b, 50, "fb") + order))
    community = _community_of(kept_audiences(union, studios=None, params=PARAMS), union)
    assert len({community[x] for x in a}) == 1 and len({community[x] for x in b}) == 1
    assert community["a0"] != community["b0"]


def test_rows_of_new_creators_only_find_their_own_audiences():
    # a view of the union whose history rows all carry evidence: every creator is placed by the window
    _, window = _audiences(seed=1)
    union = window.assign(**{name: -1 for name in AUDIENCE_COLUMNS})
    kept = kept_audiences(union, studios=None, params=PARAMS)
    community = _community_of(kept, union)
    assert kept.n_communities == 2
    assert len({community[f"a{i}"] for i in range(6)}) == 1 and community["a0"] != community["b0"]


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A multi-week world of three audiences per platform: its last week and the three before."""
    sim = simulate(SimConfig(seed=3, scale=0.4, multi_week=True, communities=3))
    events = clean_events(sim.events, source="seed 3").frame
    cut = events["ts"].max() - pd.Timedelta(days=7)
    current, history = events.loc[events["ts"] > cut], events.loc[events["ts"] <= cut]
    return current.reset_index(drop=True), history.reset_index(drop=True), sim.posts


def test_a_state_written_then_read_gives_the_same_audiences(world, tmp_path: Path):
    current, history, posts = world
    params = ScoringParams().set_params(history__mode="condensed")
    key = StateKey(history="h", mode="condensed", rules="r", posts="p", code="c")

    def build() -> PreparedHistory:
        frame = prepared_history(history, params=params, posts=posts)
        return PreparedHistory(frame=frame, rejects=pd.DataFrame(), n_events=len(history), first_ts=None)

    built = load_or_build(tmp_path / "state", key, build)
    read = load_or_build(tmp_path / "state", key, build)
    assert (built.status, read.status) == ("built", "read")
    for name in AUDIENCE_COLUMNS:
        assert read.prepared.frame[name].dtype == np.int32
        assert np.array_equal(read.prepared.frame[name].to_numpy(), built.prepared.frame[name].to_numpy())
    # found on the history's rows without evidence: a seller's book is no audience of its own
    frame = built.prepared.frame
    evidence = frame["has_evidence"].to_numpy()
    assert evidence.any() and (frame.loc[evidence, AUDIENCE_COLUMNS[0]] == -1).all()
    assert (frame.loc[~evidence, AUDIENCE_COLUMNS[0]] >= 0).all()
    assert frame.loc[~evidence].groupby("platform", observed=True)[AUDIENCE_COLUMNS[0]].nunique().max() >= 2
    # the window joined to either reads the same audiences, and its own rows carry none
    unions = [
        history_engagements(current, state.prepared.frame, params=params, posts=posts)
        for state in (built, read)
    ]
    for union in unions:
        is_history = union["is_history"].to_numpy()
        assert (union.loc[~is_history, AUDIENCE_COLUMNS[0]] == -1).all()
        assert (union.loc[is_history, AUDIENCE_COLUMNS[0]] >= 0).mean() > 0.5
    platform = unions[0]["platform"] == unions[0]["platform"].iloc[0]
    one, two = (kept_audiences(u.loc[platform.to_numpy()], studios=None, params=PARAMS) for u in unions)
    assert np.array_equal(one.unit_community, two.unit_community)
    assert np.array_equal(one.for_pool().unit_community, two.for_pool().unit_community)


def test_exact_mode_reads_no_kept_audiences(world):
    current, history, posts = world
    params = ScoringParams().set_params(history__mode="condensed")
    frame = prepared_history(history, params=params, posts=posts)
    exact = history_engagements(current, frame, params=ScoringParams(), posts=posts)
    assert not set(AUDIENCE_COLUMNS) & set(exact.columns)
    off = ScoringParams().set_params(history__mode="condensed", audience__kept_from_history=False)
    assert not set(AUDIENCE_COLUMNS) & set(prepared_history(history, params=off, posts=posts).columns)
