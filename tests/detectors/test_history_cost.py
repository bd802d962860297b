"""The cost benchmark's accounting of history: what a cut around the window keeps, time per stage."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import pandas as pd

from benchmarks.history_cost import HISTORY_FILE, MODES, child, history_reach, stage_seconds
from detectors.params import ScoringParams
from detectors.registry import DETECTORS
from detectors.scorer import prepare_scored_history
from tests.factories import BASE_TS, clean


def _events(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return clean(
        pd.DataFrame(
            {
                "event_id": [f"e{i}" for i in range(len(rows))],
                "platform": "douyin",
                "campaign_id": "cmp1",
                "post_id": [post for _, post, _ in rows],
                "creator_id": [f"k-{post}" for _, post, _ in rows],
                "user_id": [user for user, _, _ in rows],
                "action": "like",
                "ts": [(BASE_TS + pd.Timedelta(hours=hour)).isoformat() for _, _, hour in rows],
            }
        )
    )


def test_history_reach_counts_the_window_accounts_events_and_every_event_on_their_posts():
    current = _events([("a", "p1", 100), ("b", "p2", 101)])
    history = _events(
        [
            ("a", "p9", 1),  # the window's account
            ("x", "p9", 2),  # another account on a post the window's account engaged before
            ("y", "p2", 3),  # another account on a post of the window
            ("z", "p7", 4),  # neither: a cut around the window drops it
        ]
    )
    assert history_reach(current, history) == {"window_accounts": 0.25, "window_accounts_and_posts": 0.75}


def test_stage_seconds_names_every_detector_and_the_stages_around_them():
    rows = [(f"u{i % 40}", f"p{i % 7}", i) for i in range(300)]
    events = _events(rows)
    current, history = events.iloc[200:], events.iloc[:200]
    world = SimpleNamespace(posts=None, campaigns=None)
    for past in (None, history, prepare_scored_history(history, params=ScoringParams())):
        seconds = stage_seconds(current, past, world)
        names = list(seconds)
        assert names[0] == "prepare" and names[-1] == "decide"
        assert {spec.name for spec in DETECTORS} <= set(seconds)
        assert all(value >= 0 for value in seconds.values())


def test_a_cost_child_scores_each_mode_and_reports_its_seconds_and_peak_memory(tmp_path):
    rows = [(f"u{i % 40}", f"p{i % 7}", i) for i in range(300)]
    events = _events(rows)
    data = tmp_path / "window.pickle"
    data.write_bytes(pickle.dumps((events.iloc[200:], events.iloc[:200], None, None)))
    events.iloc[:200].to_parquet(tmp_path / HISTORY_FILE, index=False)  # the state mode's history file
    for mode in MODES:
        measured = child(mode, data)
        assert set(measured) == {
            "wall_s",
            "cpu_s",
            "peak_rss_gib",
            "prepare_s",
            "history_kept_share",
            "load_1m",
            *(["state_read_s"] if mode == "with history state" else []),
        }
        assert 0 < measured["history_kept_share"] <= 1
        assert measured["peak_rss_gib"] > 0 and measured["wall_s"] > 0


def test_a_state_built_by_a_process_of_its_own_is_read_by_the_timed_child(tmp_path):
    rows = [(f"u{i % 40}", f"p{i % 7}", i) for i in range(300)]
    events = _events(rows)
    data = tmp_path / "window.pickle"
    data.write_bytes(pickle.dumps((events.iloc[200:], events.iloc[:200], None, None)))
    events.iloc[:200].to_parquet(tmp_path / HISTORY_FILE, index=False)
    knobs = {"history__mode": "condensed"}
    built = child(MODES[3], data, knobs, build_only=True)
    assert set(built) == {"prepare_s"}
    (state,) = tmp_path.glob("state-condensed-*")
    manifest = (state / "state.json").stat().st_mtime_ns
    measured = child(MODES[3], data, knobs)
    # read back, not built again: the timed child's ``prepare_s`` found the kept state
    assert (state / "state.json").stat().st_mtime_ns == manifest
    assert measured["state_read_s"] > 0 and 0 < measured["history_kept_share"] <= 1
