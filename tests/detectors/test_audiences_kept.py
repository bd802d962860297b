"""Audiences kept from the history (``detectors.audiences._kept``): the history's Louvain communities
found once, carried on its rows and through a kept state, the union's agglomeration started from them,
on planted data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import AUDIENCE_COLUMNS, AudienceParams, Audiences, find_audiences, kept_columns
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


def _same_partition(one: dict[str, int], two: dict[str, int]) -> bool:
    """Two partitions of the same creators group them alike (whatever their numbers)."""
    return all((one[x] == one[y]) == (two[x] == two[y]) for x in one for y in one)


def _kept(history: pd.DataFrame) -> pd.DataFrame:
    """The history's rows with their kept Louvain communities."""
    return history.assign(**kept_columns(history, studios=None, params=PARAMS))


def _union(history: pd.DataFrame, window: pd.DataFrame) -> pd.DataFrame:
    """The window's rows without kept communities (-1), then the history's with them."""
    fresh = window.assign(**{name: np.int32(-1) for name in AUDIENCE_COLUMNS})
    return pd.concat([fresh, _kept(history)], ignore_index=True)


def _both(union: pd.DataFrame) -> tuple[Audiences, Audiences]:
    """The union's audiences from the kept communities, and found by Louvain on the union."""
    kept = find_audiences(union, studios=None, params=PARAMS)
    found = find_audiences(union.drop(columns=list(AUDIENCE_COLUMNS)), studios=None, params=PARAMS)
    return kept, found


def test_the_historys_own_audiences_from_its_kept_communities_are_the_ones_found_on_it():
    _, history = _audiences()
    kept, found = _both(_kept(history))
    assert found.n_communities == 2
    for mine, theirs in (
        (kept, found),
        (kept.for_pool(), found.for_pool()),
        (kept.for_pool().for_search(), found.for_pool().for_search()),
    ):
        assert np.array_equal(mine.post_unit, theirs.post_unit)
        assert np.array_equal(mine.unit_community, theirs.unit_community)
        assert np.array_equal(mine.unit_region, theirs.unit_region)
        assert np.array_equal(mine.unit_part, theirs.unit_part)


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
    kept, found = _both(union)
    community = _community_of(kept, union)
    assert len({community[x] for x in a}) == 1
    assert len({community[x] for x in b}) == 1
    assert len({community[x] for x in c}) == 1
    assert community["a6"] == community["a0"]
    assert len({community["a0"], community["b0"], community["c0"]}) == 3
    assert kept.n_communities == 3
    # the same partition as Louvain on the union finds (the kept communities replace it)
    assert _same_partition(community, _community_of(found, union))


def test_a_window_of_known_creators_only_keeps_the_historys_audiences():
    rng, history = _audiences()
    a, b = [f"a{i}" for i in range(6)], [f"b{i}" for i in range(6)]
    # a seller's order in the window ties a and b creators: the history's audiences stay
    order = [(f"s{i}", f"{creator}-p2", creator) for i in range(30) for creator in (a[0], a[1], b[0], b[1])]
    union = _union(history, _frame(_fans(rng, a, 50, "fa") + _fans(rng, b, 50, "fb") + order))
    community = _community_of(find_audiences(union, studios=None, params=PARAMS), union)
    assert len({community[x] for x in a}) == 1 and len({community[x] for x in b}) == 1
    assert community["a0"] != community["b0"]


def test_a_book_that_grew_over_the_history_gives_the_unions_partitions():
    """A seller's book (s0-s3) takes orders across two audiences in every week of the history, more of
    them in the window: the pool test's partition at ``pool_min_insularity`` is measured on the union's
    counts, so it is the one Louvain on the union gives, book included, whatever the history's grouping."""
    rng = np.random.default_rng(2)
    a, b = [f"a{i}" for i in range(6)], [f"b{i}" for i in range(6)]
    book = ["a0", "a1", "b0", "b1"]

    def week(n_orders: int, prefix: str) -> list[tuple[str, str, str]]:
        orders = [
            (f"{prefix}s{i}", f"{creator}-p{i % 3}", creator) for i in range(n_orders) for creator in book
        ]
        return _fans(rng, a, 120, f"{prefix}fa") + _fans(rng, b, 120, f"{prefix}fb") + orders

    history = _frame(week(10, "h1") + week(10, "h2") + week(10, "h3"))
    union = _union(history, _frame(week(40, "w")))
    kept, found = _both(union)
    for mine, theirs in (
        (kept, found),
        (kept.for_pool(), found.for_pool()),
        (kept.for_pool().for_search(), found.for_pool().for_search()),
    ):
        assert _same_partition(_community_of(mine, union), _community_of(theirs, union))
    assert len({_community_of(kept, union)[x] for x in a + b}) >= 2


def _fans_mixed(
    rng: np.random.Generator, own: list[str], other: list[str], n_fans: int, prefix: str, p_other: float
) -> list[tuple[str, str, str]]:
    """Light fans of a small audience: each engages 2-3 of its creators and, with ``p_other``, 2-4
    creators of ``other`` too."""
    rows = []
    for fan in range(n_fans):
        for creator in rng.choice(own, size=int(rng.integers(2, 4)), replace=False):
            rows.append((f"{prefix}{fan}", f"{creator}-p{int(rng.integers(3))}", str(creator)))
        if rng.random() < p_other:
            for creator in rng.choice(other, size=int(rng.integers(2, 5)), replace=False):
                rows.append((f"{prefix}{fan}", f"{creator}-p{int(rng.integers(3))}", str(creator)))
    return rows


def test_the_pool_tests_fine_partition_is_the_unions_not_the_historys():
    """A small audience (c0-c3) whose fans all engaged audience a too in the history, and rarely in the
    window: on the history alone it is too mixed to stand apart at ``pool_min_insularity``; on the union
    it stands apart. The kept Louvain communities are agglomerated on the union's counts, so the pool
    test's partition is the union's, not the history's (which audiences kept whole would carry)."""
    rng = np.random.default_rng(1)
    a, b, c = [f"a{i}" for i in range(6)], [f"b{i}" for i in range(6)], [f"c{i}" for i in range(4)]
    history = _frame(
        _fans(rng, a, 150, "fa") + _fans(rng, b, 150, "fb") + _fans_mixed(rng, c, a, 80, "hc", 1.0)
    )
    window = _frame(
        _fans(rng, a, 150, "fa") + _fans(rng, b, 150, "fb") + _fans_mixed(rng, c, a, 80, "wc", 0.1)
    )
    alone = _community_of(find_audiences(history, studios=None, params=PARAMS).for_pool(), history)
    assert alone["c0"] == alone["a0"]
    union = _union(history, window)
    kept, found = _both(union)
    assert union.loc[union["creator_id"].isin(c), AUDIENCE_COLUMNS[0]].max() >= 0  # the history placed c
    for mine, theirs in ((kept, found), (kept.for_pool(), found.for_pool())):
        assert _same_partition(_community_of(mine, union), _community_of(theirs, union))
    pool = _community_of(kept.for_pool(), union)
    assert len({pool[x] for x in c}) == 1 and pool["c0"] != pool["a0"] and pool["a0"] != pool["b0"]


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
    # found on all the history's rows: most rows' creators were placed, in several communities
    frame = built.prepared.frame
    assert (frame[AUDIENCE_COLUMNS[0]] >= 0).mean() > 0.5
    assert frame.groupby("platform", observed=True)[AUDIENCE_COLUMNS[0]].nunique().max() >= 2
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
    one, two = (find_audiences(u.loc[platform.to_numpy()], studios=None, params=PARAMS) for u in unions)
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
