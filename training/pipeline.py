"""The weekly training run: fit the week, measure it, then log, register and gate it in one MLflow run.

The steps live in their own modules: ``training.week_inputs`` (the configuration and the
week's events and features), ``training.fitting`` (anomaly ensemble, stacker, operating
point), ``training.measurement`` (suite, verdicts, backtest, gates, drift) and
``training.run_record`` (what the run logs).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from training.fitting import fit_week
from training.gates import GateResult
from training.measurement import measure
from training.run_record import input_example, run_metrics, run_params, write_artifacts
from training.tracking import CHALLENGER, CHAMPION, Tracker
from training.week_inputs import TrainingConfig, WeekData
from training.weeks import parse_week


@dataclass(frozen=True)
class TrainingResult:
    """What a run produced and decided."""

    run_id: str
    week: str
    version: str
    alias: str
    gate: GateResult
    metrics: dict[str, float]


def run(config: TrainingConfig, data: WeekData) -> TrainingResult:
    """Fit, evaluate, log and register one week's scorer, then gate it: champion or challenger."""
    parse_week(data.week)
    tracker = Tracker(config.tracking_uri, model_name=config.model_name)
    fitted = fit_week(config, data)
    measured = measure(config, data, fitted, tracker)
    metrics = run_metrics(config, data.week, fitted, measured)
    gate = measured.gate
    alias = CHAMPION if gate.passed else CHALLENGER
    reason = gate.reason[:5000]
    with tracker.start_run(week=data.week, tags={"data": fitted.source[:250]}) as run_id:
        tracker.log_params(run_params(config, data.week, fitted, measured))
        tracker.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as folder:
            write_artifacts(Path(folder), fitted, measured, budget=config.operating.honest_withheld_budget)
            tracker.log_artifacts(Path(folder))
        version = tracker.log_scorer(fitted.scorer, example=input_example(fitted.events))
        tracker.set_tags({"gate_decision": alias, "gate_reason": reason, "model_version": version})
        # inside the run: if the registry fails here the run ends FAILED and retrain tries the week again
        tracker.tag_version(version, {"week": data.week, "gate_decision": alias, "gate_reason": reason})
        tracker.set_alias(alias, version)
    return TrainingResult(
        run_id=run_id, week=data.week, version=version, alias=alias, gate=gate, metrics=metrics
    )
