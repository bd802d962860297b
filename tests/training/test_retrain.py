"""``retrain``: the lock, one run per ISO week, backfill of missed weeks, and the CLI cron calls."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.training.weekly import FAST_CLI_ENV, fast_config, store_uri
from training.retrain import RetrainLocked, retrain, retrain_lock, weeks_to_train
from training.tracking import EXPERIMENT
from training.week_inputs import WeekData
from training.weeks import last_complete_week, parse_week, week_of

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # a Wednesday of 2026-W48


def _empty_week(week: str) -> WeekData:
    """A week whose event store is empty: training falls back to the simulated cold start."""
    return WeekData(week=week, events=pd.DataFrame(), source="empty test store")


def test_weeks_parse_and_name_iso_weeks() -> None:
    start, end = parse_week("2026-W47")
    assert start == datetime(2026, 11, 16, tzinfo=UTC) and (end - start).days == 7
    assert week_of(start) == "2026-W47" and last_complete_week(NOW) == "2026-W47"
    assert week_of(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"
    with pytest.raises(ValueError, match="ISO week like 2026-W47"):
        parse_week("2026-47")


def test_weeks_to_train_skips_done_weeks_and_backfills_missed_ones() -> None:
    assert weeks_to_train(done=set(), now=NOW, max_backfill=8, force=False) == (["2026-W47"], [])
    skipped = weeks_to_train(done={"2026-W47"}, now=NOW, max_backfill=8, force=False)
    assert skipped[0] == [] and "already has a run" in skipped[1][0][1]
    assert weeks_to_train(done={"2026-W47"}, now=NOW, max_backfill=8, force=True) == (["2026-W47"], [])
    backfill, too_old = weeks_to_train(done={"2026-W40"}, now=NOW, max_backfill=3, force=False)
    assert backfill == ["2026-W44", "2026-W45", "2026-W46", "2026-W47"]
    assert [w for w, _ in too_old] == ["2026-W41", "2026-W42", "2026-W43"]


def test_retrain_twice_in_a_week_does_nothing_the_second_time(tmp_path: Path) -> None:
    uri = store_uri(tmp_path / "mlruns")
    config = fast_config(uri)
    lock = tmp_path / "retrain.lock"
    first = retrain(config, load_week=_empty_week, lock_path=lock, now=NOW)
    assert [r.week for r in first.trained] == ["2026-W47"]
    assert first.trained[0].alias == "champion"
    second = retrain(config, load_week=_empty_week, lock_path=lock, now=NOW)
    assert second.trained == () and second.skipped[0][0] == "2026-W47"
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    assert len(runs) == 1 and "simulated cold start" in runs[0].data.params["events_source"]


def test_retrain_refuses_to_run_beside_another(tmp_path: Path) -> None:
    lock = tmp_path / "retrain.lock"
    with retrain_lock(lock), pytest.raises(RetrainLocked, match=str(os.getpid())):
        retrain(fast_config(store_uri(tmp_path / "mlruns")), load_week=_empty_week, lock_path=lock, now=NOW)
    with retrain_lock(lock):  # released again
        pass


@pytest.mark.e2e
def test_cli_retrain_trains_the_week_once_and_score_uses_the_champion(
    tmp_path: Path, small_sim_dir: Path
) -> None:
    env = {
        **os.environ,
        **FAST_CLI_ENV,
        "MLFLOW_TRACKING_URI": store_uri(tmp_path / "mlruns"),
        "CPEGUARD_HOME": str(tmp_path / "home"),
    }
    command = [sys.executable, "-m", "cpeguard.cli", "retrain", "--week", "2026-W44"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "version 1: promoted to champion" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "2026-W44: skipped, the week already has a run" in second.stdout
    scored = subprocess.run(
        [
            *command[:3],
            "score",
            "--events",
            str(small_sim_dir / "events.parquet"),
            "--out",
            str(tmp_path / "scored"),
            "--model",
            "models:/cpeguard-scorer@champion",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert scored.returncode == 0, scored.stderr
    assert "scoring with models:/cpeguard-scorer@champion (trained on 2026-W44)" in scored.stdout
    assert len(pd.read_parquet(tmp_path / "scored" / "posts.parquet"))
    bad = subprocess.run(
        [*command[:-1], "2026-47"], capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path
    )
    assert bad.returncode == 2 and "ISO week like 2026-W47" in bad.stderr
