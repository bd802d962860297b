"""History as context, on planted data: a seller pool split across weeks, an honest community."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.history import _joined, prepare_history, with_history, with_prepared_history
from detectors.params import ScoringParams
from detectors.scorer import score_engagements, score_window
from tests.factories import BASE_TS, clean

WEEKS = 4


def _week_rows(rng: np.random.Generator, week: int, *, community: bool) -> list[dict[str, object]]:
    """One week of light honest users on 600 fresh posts of 300 creators (optionally one community).

    With ``community`` a quarter of the users follow only 10 creators of their own, the same every week.
    """
    rows: list[dict[str, object]] = []
    start = BASE_TS + pd.Timedelta(days=7 * week)
    for user in range(3000):
        in_community = community and user < 750
        n_posts = int(rng.integers(1, 5))
        if in_community:
            posts = [f"w{week}c{c}" for c in rng.choice(10, size=n_posts, replace=False)]
        else:
            posts = [f"w{week}p{p}" for p in rng.choice(600, size=n_posts, replace=False)]
        rows.extend(_row(start, rng, f"u{user}", post) for post in posts)
    return rows


def _pool_rows(rng: np.random.Generator, week: int) -> list[dict[str, object]]:
    """A seller's 60 accounts serving 4 new clients this week, 16 accounts per order.

    Within one week most accounts engage one or two bought posts: no pool shows; across
    weeks each account has engaged several posts of many unrelated creators.
    """
    start = BASE_TS + pd.Timedelta(days=7 * week)
    rows = []
    for order in range(4):
        for account in rng.choice(60, size=16, replace=False):
            rows.append(_row(start, rng, f"s{account}", f"w{week}b{order}"))
    return rows


def _row(start: pd.Timestamp, rng: np.random.Generator, user: str, post: str) -> dict[str, object]:
    return {
        "event_id": f"{user}-{post}",
        "platform": "douyin",
        "campaign_id": "cmp1",
        "post_id": post,
        "creator_id": f"k-{post}",
        "user_id": user,
        "action": "like",
        "ts": (start + pd.Timedelta(seconds=int(rng.integers(0, 7 * 86_400)))).isoformat(),
    }


def _weeks(*, pool: bool, community: bool, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last week's clean events and the weeks before it."""
    rng = np.random.default_rng(seed)
    weeks = []
    for week in range(WEEKS):
        rows = _week_rows(rng, week, community=community) + (_pool_rows(rng, week) if pool else [])
        weeks.append(clean(pd.DataFrame(rows)))
    return weeks[-1], pd.concat(weeks[:-1], ignore_index=True)


def _invalid(scored: pd.DataFrame, prefix: str) -> np.ndarray:
    mine = scored["user_id"].astype(str).str.startswith(prefix).to_numpy()
    return scored["invalid"].to_numpy(dtype=bool)[mine]


def test_a_seller_pool_split_across_weeks_is_caught_in_the_last_week_only_with_history():
    current, history = _weeks(pool=True, community=False)
    alone = score_window(current, params=ScoringParams()).engagements
    judged = score_window(current, params=ScoringParams(), history=history).engagements
    assert _invalid(alone, "s").mean() == 0
    assert _invalid(judged, "s").mean() > 0.75  # measured 0.81 (pool 42, dense_block 10 of 64)
    # outputs are the window's engagements only, in the same order as scored alone
    assert judged["event_id"].tolist() == alone["event_id"].tolist()
    assert _invalid(judged, "u").sum() == 0
    evidence = judged.loc[judged["invalid"], "evidence"].astype(str)
    assert evidence.str.contains(
        r"with history: the account engaged \d+ posts? of this group", regex=True
    ).all()


def test_an_honest_community_is_not_flagged_more_with_history():
    current, history = _weeks(pool=False, community=True)
    alone = score_window(current, params=ScoringParams()).engagements
    judged = score_window(current, params=ScoringParams(), history=history).engagements
    assert _invalid(judged, "u").sum() <= _invalid(alone, "u").sum()
    assert _invalid(judged, "u").sum() == 0


def _planted_overlap() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A window and a history that overlap every way a joint reduction must settle.

    History replays an event; reports one of the window's event ids (with another
    user, seen nowhere else, whose first row is that dropped one); re-counts a
    window engagement after it (context after the window); lacks device ids where
    the window has them. The window replays one event too.
    """
    rng = np.random.default_rng(7)
    rows = [_row(BASE_TS, rng, f"u{i % 9}", f"p{i % 5}") | {"event_id": f"w{i}"} for i in range(40)]
    window = pd.DataFrame([*rows, rows[3]]).assign(device_id=[f"d{i % 4}" for i in range(41)])
    past = [_row(BASE_TS - pd.Timedelta(days=8), rng, f"u{i % 13}", f"q{i % 6}") for i in range(60)]
    past = [row | {"event_id": f"h{i}"} for i, row in enumerate(past)]
    late = _row(BASE_TS + pd.Timedelta(days=9), rng, "u1", "p1") | {"event_id": "late"}
    stolen = _row(BASE_TS, rng, "only-on-a-dropped-row", "q0") | {"event_id": "w5"}
    history = pd.DataFrame([stolen, *past, past[10], late, stolen | {"event_id": "h61"}])
    return clean(window), clean(history.assign(device_id=None))


def test_a_prepared_history_joins_a_window_as_reducing_them_together_does():
    window, history = _planted_overlap()
    joined = _joined(window, history)
    assert joined["is_recount"].any() and joined["copies"].max() == 2
    prepared = prepare_history(history)
    pd.testing.assert_frame_equal(with_prepared_history(window, prepared), joined, check_exact=True)
    pd.testing.assert_frame_equal(with_history(window, history), joined, check_exact=True)
    # the window's id "w5" drops its history row: that row's user is numbered at its next row
    users = joined["user_id"].cat.categories
    assert users.get_loc("only-on-a-dropped-row") > users.get_loc("u12")


def test_scoring_with_a_prepared_history_decides_as_scoring_with_the_history():
    current, history = _weeks(pool=True, community=False)
    params = ScoringParams()
    full = score_window(current, params=params, history=history)
    carried = score_engagements(with_prepared_history(current, prepare_history(history)), params=params)
    pd.testing.assert_frame_equal(carried.engagements, full.engagements, check_exact=True)
    pd.testing.assert_frame_equal(carried.posts, full.posts, check_exact=True)
    pd.testing.assert_frame_equal(carried.accounts, full.accounts, check_exact=True)


def test_the_windows_rows_scored_with_history_keep_only_the_windows_own_ids():
    """What history adds to the id columns' categories goes with the history's rows: the window's
    come first in the joint numbering, so they are the ids the window numbers alone, in its order."""
    current, history = _weeks(pool=True, community=False)
    alone = score_window(current, params=ScoringParams()).engagements
    judged = score_window(current, params=ScoringParams(), history=history).engagements
    assert judged["invalid"].sum() > alone["invalid"].sum()
    assert not set(history["user_id"]) <= set(current["user_id"])
    for column in ("platform", "post_id", "creator_id", "user_id", "action", "device_id", "ip"):
        pd.testing.assert_index_equal(judged[column].cat.categories, alone[column].cat.categories)
        assert (judged[column].cat.codes.to_numpy() == alone[column].cat.codes.to_numpy()).all()
