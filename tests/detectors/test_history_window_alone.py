"""History never weakens what the window alone shows (``window_alone`` of ip_farm and spreading)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.base import Detection
from detectors.history import HISTORY_COLUMN
from detectors.infra import IpFarmParams, shared_infrastructure
from detectors.spread import SpreadParams, spread_to_accounts
from features.dedup import distinct_engagements
from tests.factories import clean, raw_event


def _farm_weeks(*, window_workers: int, history_workers: int, seed: int = 0) -> pd.DataFrame:
    """A window of 2000 honest users on 100 posts with a farm of ``window_workers`` accounts behind one
    IP on post p0, and a history week of 150 honest users, in which the farm's IP was busy: each of
    ``history_workers`` accounts engaged 12 of the history's own posts through it."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []

    def add(user: str, post: str, ip: str, history: bool) -> None:
        # history posts are named h*, the window's p*
        rows.append(raw_event(len(rows), user_id=user, post_id=post, ip=ip))

    for user in range(2000):
        for post in rng.choice(100, size=3, replace=False):
            add(f"u{user}", f"p{post}", f"home{user}", False)
    for worker in range(window_workers):
        add(f"w{worker}", "p0", "farm", False)
    for user in range(150):
        for post in rng.choice(20, size=3, replace=False):
            add(f"v{user}", f"h{post}", f"home-v{user}", True)
    for worker in range(history_workers):
        for post in range(12):
            add(f"x{worker}", f"h{post}", "farm", True)
    events = distinct_engagements(clean(pd.DataFrame(rows)))
    return events.assign(**{HISTORY_COLUMN: events["post_id"].astype(str).str.startswith("h").to_numpy()})


def test_a_farm_busier_in_its_history_is_explained_away_without_window_alone() -> None:
    events = _farm_weeks(window_workers=5, history_workers=6)
    window = ~events[HISTORY_COLUMN].to_numpy()
    off = IpFarmParams(window_alone=False)
    alone = shared_infrastructure(events.loc[window].drop(columns=HISTORY_COLUMN), params=off)
    assert (alone.event_score > 0).sum() == 5
    union = shared_infrastructure(events, params=off)
    assert (union.event_score[window] > 0).sum() == 0


def test_window_alone_keeps_the_windows_farm_with_history() -> None:
    events = _farm_weeks(window_workers=5, history_workers=6)
    window = ~events[HISTORY_COLUMN].to_numpy()
    found = shared_infrastructure(events, params=IpFarmParams(window_alone=True))
    is_worker = events["user_id"].astype(str).str.startswith("w").to_numpy()
    assert (found.event_score[is_worker] >= 0.7).all()
    assert (found.event_score[window & ~is_worker] == 0).all()
    assert "5 accounts behind one IP engaged post p0" in " ".join(found.groups["evidence"])


def test_window_alone_without_history_changes_nothing() -> None:
    events = _farm_weeks(window_workers=5, history_workers=0)
    plain = events.loc[~events[HISTORY_COLUMN].to_numpy()].drop(columns=HISTORY_COLUMN)
    on = shared_infrastructure(plain, params=IpFarmParams(window_alone=True))
    off = shared_infrastructure(plain, params=IpFarmParams(window_alone=False))
    np.testing.assert_array_equal(on.event_score, off.event_score)
    np.testing.assert_array_equal(on.event_group, off.event_group)
    pd.testing.assert_frame_equal(on.groups, off.groups)


def _account_weeks() -> tuple[pd.DataFrame, Detection]:
    """w1: 2 window engagements, 1 caught, and 6 in history, none caught (1 of 8 overall); h1 an
    honest fan caught once in 5 window engagements."""
    users = ["w1"] * 8 + ["h1"] * 5
    history = [False, False] + [True] * 6 + [False] * 5
    frame = pd.DataFrame(
        {
            "user_id": users,
            "post_id": [f"p{i}" for i in range(len(users))],
            "creator_id": [f"c{i}" for i in range(len(users))],
        }
    ).astype("category")
    frame[HISTORY_COLUMN] = history
    score = np.zeros(len(users))
    score[[0, 8]] = 1.0
    group = np.where(score > 0, 0, -1).astype(np.int64)
    return frame, Detection("ip_farm", score, group, pd.DataFrame({"group_id": [0], "evidence": ["farm"]}))


def test_spreading_on_the_window_alone_raises_what_history_diluted() -> None:
    frame, detection = _account_weeks()
    off = spread_to_accounts(detection, frame, params=SpreadParams(window_alone=False))
    assert off.event_score[1] == 0
    on = spread_to_accounts(detection, frame, params=SpreadParams(window_alone=True))
    assert on.event_score[1] == 0.9
    # the honest fan stays below the share in the window as with history
    np.testing.assert_array_equal(on.event_score[8:], detection.event_score[8:])


def test_spreading_window_alone_without_history_changes_nothing() -> None:
    frame, detection = _account_weeks()
    plain = frame.drop(columns=HISTORY_COLUMN)
    on = spread_to_accounts(detection, plain, params=SpreadParams(window_alone=True))
    off = spread_to_accounts(detection, plain, params=SpreadParams(window_alone=False))
    np.testing.assert_array_equal(on.event_score, off.event_score)
