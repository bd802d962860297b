"""The Spark agreement benchmark's quality of a multi-week window: measured on the window's events only."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from benchmarks.spark_agreement import quality, simulated
from tests.conftest import run_cli


def test_quality_of_a_multi_week_window_counts_its_events_only(tmp_path: Path) -> None:
    args = argparse.Namespace(seed=5, scale=0.4, structure="plain", history_weeks=1, work=tmp_path)
    files, history = simulated(args)
    window = Path(files["events"])
    out = tmp_path / "local"
    inputs = [item for name, path in files.items() for item in (f"--{name}", path)]
    run_cli("score", *inputs, "--history", history[0], "--out", out)
    # the set's truth holds every week's events; the window's outputs only the last week's
    truth = pd.read_parquet(window.parent / "truth" / "events.parquet", columns=["event_id"])
    window_ids = pd.read_parquet(window, columns=["event_id"])["event_id"]
    assert len(truth) > window_ids.nunique() > 0

    found = quality(window, out)

    assert 0.9 < found["precision"] <= 1.0
    assert 0.0 < found["recall"] <= 1.0
    assert found["recall_by_scheme"]


def test_a_worlds_structure_is_the_quality_benchmarks_window(tmp_path: Path) -> None:
    from benchmarks.windows import make_window

    structure = "worlds=4+communities=3+studios+giveaways"
    args = argparse.Namespace(seed=5, scale=0.2, structure=structure, history_weeks=0, work=tmp_path)
    files, history = simulated(args)
    events = pd.read_parquet(files["events"])
    window = make_window(5, "20k", structure, honest_only=False)

    assert history == []
    # four worlds side by side, every id suffixed by its world, the same events as the gates' window
    assert {c[-3:] for c in events["creator_id"].astype(str)} == {"-w0", "-w1", "-w2", "-w3"}
    assert sorted(events["event_id"]) == sorted(window.sim.events["event_id"])
    truth = pd.read_parquet(Path(files["events"]).parent / "truth" / "creators.parquet")
    assert set(events["creator_id"]) <= set(truth["creator_id"])
