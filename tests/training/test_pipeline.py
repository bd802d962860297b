"""The weekly training run on a temporary MLflow store: run, registered version, aliases, gates."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from detectors.fitted import FittedState
from detectors.model import WindowScorer
from detectors.params import ScoringParams
from tests.training.weekly import FAST_GATES, WORSE
from training.backtest import SettledHistory, money_backtest
from training.drift import drift_report, feature_profile
from training.fitting import fit_supervised
from training.gates import BacktestOutcome, judge
from training.labels import clean_labels
from training.pipeline import TrainingResult
from training.tracking import MODEL_NAME


def test_train_logs_a_run_and_registers_the_champion(store: str, first: TrainingResult) -> None:
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    logged = client.get_run(first.run_id)
    assert logged.data.tags["week"] == "2026-W45"
    assert logged.data.params["gate_decision"] == "champion"
    assert {
        "suite_recall_click_farm",
        "suite_average_precision",
        "suite_honest_payout_withheld_share",
    } <= set(logged.data.metrics)
    assert logged.data.metrics["n_events"] > 2_000
    artifacts = {a.path for a in client.list_artifacts(first.run_id, "plots")}
    assert {"plots/pr_curve.png", "plots/recall_by_scheme.png", "plots/score_distributions.png"} <= artifacts
    assert first.alias == "champion" and first.gate.passed
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == first.version


def test_registered_scorer_predicts_from_its_input_example(store: str, first: TrainingResult) -> None:
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
    assert model.metadata.signature is not None
    example = model.input_example
    assert isinstance(example, pd.DataFrame) and len(example)
    out = model.predict(example)
    assert list(out.columns) == ["event_id", "risk", "invalid", "reason"]
    assert out["risk"].between(0, 1).all()
    scorer = model.unwrap_python_model().scorer
    assert isinstance(scorer, WindowScorer) and scorer.fitted.anomaly is not None


def test_worse_model_is_refused_with_the_reason_logged(
    store: str, first: TrainingResult, worse: TrainingResult
) -> None:
    assert not worse.gate.passed and worse.alias == "challenger"
    assert any("recall_click_farm" in reason for reason in worse.gate.reasons)
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    logged = client.get_run(worse.run_id)
    assert "recall_click_farm" in logged.data.tags["gate_reason"]
    assert logged.data.params["gate_reason"].startswith(logged.data.tags["gate_reason"][:200])
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == first.version
    assert str(client.get_model_version_by_alias(MODEL_NAME, "challenger").version) == worse.version


def test_second_week_reports_drift_against_the_first(store: str, worse: TrainingResult) -> None:
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    folder = Path(client.download_artifacts(worse.run_id, "drift"))
    psi = pd.read_csv(folder / "psi.csv")
    assert set(psi["previous_week"]) == {"2026-W45"}
    assert psi["psi"].max() < 0.1  # the same simulated traffic both weeks
    assert "drift_max_psi" in worse.metrics
    assert json.loads((folder / "feature_profile.json").read_text())["n_rows"] > 0


def test_psi_is_zero_for_the_same_rows_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"x": rng.exponential(10, 5_000), "y": rng.normal(0, 1, 5_000)})
    same = drift_report(feature_profile(base), base).set_index("feature")["psi"]
    assert same.max() < 1e-9
    shifted = drift_report(feature_profile(base), base.assign(x=base["x"] * 3)).set_index("feature")
    assert shifted.loc["x", "psi"] > 0.25 and shifted.loc["x", "status"] == "shifted"
    assert shifted.loc["y", "status"] == "stable"


def test_gates_floors_first_then_tolerance_then_money() -> None:
    nothing = BacktestOutcome(0, 0.0, 0.0, 0.0, None, note="no settlements")
    good = {
        "average_precision": 0.9,
        "precision": 0.9,
        "fraud_payout_withheld_share": 0.9,
        "honest_payout_withheld_share": 0.01,
        "recall_ring": 1.0,
    }
    assert judge(good, None, nothing, FAST_GATES).passed
    missing = judge({k: v for k, v in good.items() if k != "precision"}, None, nothing, FAST_GATES)
    assert missing.reasons == ("simulated suite: precision is missing (floor 0.7)",)
    low = judge({**good, "precision": 0.2}, None, nothing, FAST_GATES)
    assert not low.passed and "precision 0.2000 is below the floor 0.7" in low.reason
    slightly = judge({**good, "recall_ring": 0.99}, good, nothing, FAST_GATES)
    assert slightly.passed
    regressed = judge({**good, "recall_ring": 0.9}, good, nothing, FAST_GATES)
    assert not regressed.passed and "recall_ring" in regressed.reason
    assert not judge({**good, "honest_payout_withheld_share": 0.05}, good, nothing, FAST_GATES).passed
    moved = BacktestOutcome(3, 100.0, 80.0, 20.0, 0.2)
    refused = judge(good, good, moved, FAST_GATES)
    assert not refused.passed and "money backtest" in refused.reason


def test_money_backtest_compares_what_was_paid_per_creator(events: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame, _ = events
    cold = WindowScorer(params=ScoringParams())
    decided = cold.score(frame).posts
    start, end = frame["ts"].min(), frame["ts"].max() + pd.Timedelta(seconds=1)
    posts = decided.assign(settlement_id="stl_1", period_start=start, period_end=end)
    history = SettledHistory(posts=posts, events=frame)
    same, table = money_backtest(cold, history)
    assert same.n_settlements == 1 and same.change_share == pytest.approx(0.0)
    assert table["paid"].sum() == pytest.approx(decided["payable"].sum())
    moved, table = money_backtest(WindowScorer(params=WORSE), history)
    assert moved.change_share is not None and moved.change_share > 0.01
    assert table["change"].abs().iloc[0] == table["change"].abs().max()
    none, _ = money_backtest(cold, None)
    assert none.change_share is None and none.note == "no settlements"


def test_stacker_learns_from_review_verdicts(events: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame, posts = events
    from training.simulator import SimConfig, simulate

    truth = simulate(SimConfig(seed=5, scale=0.3)).truth_events
    joined = frame[["event_id", "user_id"]].merge(truth[["event_id", "invalid"]], on="event_id")
    per_account = joined.groupby("user_id")["invalid"].max().reset_index()
    labels = clean_labels(
        pd.DataFrame(
            {
                "account_id": per_account["user_id"].astype("str"),
                "label": per_account["invalid"].astype(int),
                "decided_at": "2026-11-01T00:00:00Z",
            }
        ),
        source="test",
    )
    supervised = fit_supervised(
        frame,
        posts,
        labels,
        params=ScoringParams(),
        anomaly=None,
        before=pd.Timestamp("2026-11-02", tz="UTC"),
        min_labels=50,
        holdout_share=0.5,
    )
    stacker, metrics = supervised.stacker, supervised.metrics
    assert stacker is not None, supervised.note
    assert metrics["holdout_stacker_average_precision"] > 0.8
    assert metrics["holdout_verdicts"] == len(supervised.held) == np.ceil(0.5 * len(per_account))
    scored = WindowScorer(params=ScoringParams(), fitted=FittedState(stacker=stacker)).score(
        frame, posts=posts
    )
    assert "supervised" in {d.name for d in scored.detections}
    too_few = fit_supervised(
        frame,
        posts,
        labels.head(10),
        params=ScoringParams(),
        anomaly=None,
        before=pd.Timestamp.now(tz="UTC"),
        min_labels=50,
        holdout_share=0.5,
    )
    assert too_few.stacker is None and "need 50" in too_few.note


def test_labels_name_the_bad_column_and_row() -> None:
    bad = pd.DataFrame(
        {"account_id": ["a", "b"], "label": [1, 7], "decided_at": ["2026-11-01", "2026-11-02"]}
    )
    with pytest.raises(ValueError, match="label must be 0 or 1; row 2"):
        clean_labels(bad, source="verdicts.csv")
    with pytest.raises(ValueError, match="missing column decided_at"):
        clean_labels(bad.drop(columns="decided_at"), source="verdicts.csv")
