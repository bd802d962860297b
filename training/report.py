"""Frames for the weekly model report (notebooks/weekly_model_report.ipynb) read from an MLflow store."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from detectors.model import WindowScorer
from detectors.params import ScoringParams
from features.contract import clean_events
from training.backtest import SettledHistory
from training.gates import GateConfig
from training.pipeline import run
from training.review_sample import account_truth, sample_verdicts
from training.run_record import CURVE_ARTIFACT
from training.simulator import SimConfig, simulate
from training.suite import SuiteConfig
from training.tracking import Tracker
from training.week_inputs import TrainingConfig, WeekData
from training.weeks import parse_week

REPORT_METRICS = (
    "suite_average_precision",
    "suite_precision",
    "suite_recall",
    "suite_honest_payout_withheld_share",
    "suite_fraud_payout_withheld_share",
)


def weekly_runs(tracker: Tracker, *, weeks: int = 12) -> pd.DataFrame:
    """One row per run of the last ``weeks`` ISO weeks: week, version, gate decision and every metric."""
    rows = [
        {
            "run_id": r.info.run_id,
            "week": r.data.tags.get("week", ""),
            "version": r.data.tags.get("model_version", ""),
            "gate_decision": r.data.tags.get("gate_decision", ""),
            "gate_reason": r.data.tags.get("gate_reason", ""),
            **r.data.metrics,
        }
        for r in tracker.runs()
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    last = sorted(frame["week"].unique())[-weeks:]
    return frame[frame["week"].isin(last)].sort_values(["week", "version"], ignore_index=True)


def scheme_recall(runs: pd.DataFrame) -> pd.DataFrame:
    """Suite recall per scheme (columns) per run (index: week and version)."""
    columns = [c for c in runs.columns if c.startswith("suite_recall_")]
    out = runs.set_index(["week", "version"])[columns]
    out.columns = [c.removeprefix("suite_recall_") for c in columns]
    return out


def drift_table(tracker: Tracker, runs: pd.DataFrame) -> pd.DataFrame:
    """PSI per feature (columns) per run that had a previous week to compare with."""
    frames = []
    for row in runs.itertuples():
        with tempfile.TemporaryDirectory() as folder:
            path = Path(tracker.client.download_artifacts(str(row.run_id), "drift/psi.csv", folder))
            psi = pd.read_csv(path)
        if not psi.empty:
            frames.append(psi.assign(week=str(row.week), version=str(row.version)))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames).pivot_table(index=["week", "version"], columns="feature", values="psi")


def operating_curve(tracker: Tracker, runs: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame] | None:
    """(run row, money curve) of the latest run whose operating point was measured on held-out verdicts."""
    for _, row in runs.sort_values(["week", "version"], ascending=False).iterrows():
        with tempfile.TemporaryDirectory() as folder:
            try:
                path = Path(tracker.client.download_artifacts(str(row["run_id"]), CURVE_ARTIFACT, folder))
            except Exception:  # runs logged before operating points have no curve
                continue
            curve = pd.read_csv(path) if path.stat().st_size > 1 else pd.DataFrame()
        if not curve.empty:
            return row, curve
    return None


def demo_store(folder: Path, *, weeks: tuple[str, ...] = ("2026-W44", "2026-W45", "2026-W46")) -> str:
    """A small store for the notebook when none is given: a few weeks trained on simulated traffic.

    Each week's "last settlements" are a simulated window paid under the cold scorer,
    so the money backtest has something to compare; the last week also has verdicts
    (flagged accounts and a random audit, training/review_sample.py), so its operating
    point has a curve to show.
    """
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{(folder / 'mlflow.db').resolve()}"
    config = TrainingConfig(
        tracking_uri=uri,
        suite=SuiteConfig(seeds=(9001,), scale=0.3),
        gates=GateConfig(
            floors={"average_precision": 0.5, "precision": 0.7, "fraud_payout_withheld_share": 0.5},
            ceilings={"honest_payout_withheld_share": 0.1},
        ),
        cold_start_scale=0.3,
    )
    for i, week in enumerate(weeks):
        sim = simulate(SimConfig(seed=100 + i, scale=0.3))
        events = clean_events(sim.events, source="demo").frame
        paid = (
            WindowScorer(params=ScoringParams()).score(events, posts=sim.posts, campaigns=sim.campaigns).posts
        )
        settled = paid.assign(
            settlement_id=paid["campaign_id"].astype("str"),
            period_start=events["ts"].min(),
            period_end=events["ts"].max() + pd.Timedelta(seconds=1),
        )
        history = SettledHistory(posts=settled, events=events, campaigns=sim.campaigns)
        labels = None
        if i == len(weeks) - 1:
            start, end = parse_week(week)
            scored = WindowScorer(params=ScoringParams()).score(events, posts=sim.posts)
            labels = sample_verdicts(
                account_truth(sim, scored),
                n=4_000,
                seed=i,
                start=pd.Timestamp(start),
                end=pd.Timestamp(end),
                flagged_share=0.25,
            )
        data = WeekData(
            week=week, events=events, posts=sim.posts, labels=labels, history=history, source="demo"
        )
        run(config, data)
    return uri
