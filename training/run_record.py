"""What a training run records with its MLflow run: params, metrics, artifacts (drift, suite,
backtest, gates, plots, the operating curve) and the registered model's input example."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from detectors.params import ScoringParams
from features.schema import EVENT_OPTIONAL, EVENT_REQUIRED
from training.drift import feature_profile
from training.fitting import FittedWeek
from training.measurement import Measured, holdout_metrics
from training.plots import write_operating_plot, write_plots
from training.suite import SuiteResult
from training.tracking import CHALLENGER, CHAMPION, PROFILE_ARTIFACT
from training.week_inputs import TrainingConfig
from training.weeks import parse_week

# the policy knobs an operating point sets (logged as operating_<knob>)
OPERATING_POLICY = (
    "invalid_risk",
    "review_risk",
    "hold_invalid_share",
    "hold_uncertain_share",
    "account_flag_risk",
)


CURVE_ARTIFACT = "operating/curve.csv"


def run_metrics(
    config: TrainingConfig, week: str, fitted: FittedWeek, measured: Measured
) -> dict[str, float]:
    """The run's metrics: the week's size, suite, held-out, stacker, operating point, backtest, drift."""
    backtest, drift = measured.backtest, measured.drift
    metrics = {
        "n_events": float(len(fitted.events)),
        "n_accounts": float(len(fitted.features)),
        **{f"suite_{k}": v for k, v in measured.suite.metrics.items()},
        **holdout_metrics(fitted.scorer, week, scale=config.cold_start_scale),
        **fitted.supervised.metrics,
        **{f"operating_{k}": v for k, v in fitted.point.metrics.items()},
        "operating_learned": float(fitted.point.learned),
        "backtest_settlements": float(backtest.n_settlements),
        "backtest_paid": backtest.paid,
        "backtest_would_pay": backtest.would_pay,
        "backtest_abs_change": backtest.abs_change,
    }
    if measured.verdicts is not None:
        metrics.update({f"verdicts_candidate_{k}": v for k, v in measured.verdicts.candidate.items()})
        metrics.update({f"verdicts_reference_{k}": v for k, v in measured.verdicts.baseline.items()})
    if measured.champion_suite is not None:
        metrics.update({f"champion_suite_{k}": v for k, v in measured.champion_suite.metrics.items()})
    if backtest.change_share is not None:
        metrics["backtest_change_share"] = backtest.change_share
    if drift is not None and drift["psi"].notna().any():
        metrics["drift_max_psi"] = float(drift["psi"].max())
    return metrics


def run_params(
    config: TrainingConfig, week: str, fitted: FittedWeek, measured: Measured
) -> dict[str, object]:
    """The run's params: the week, its data, the operating point, the gates' decision, every scoring knob."""
    start, end = parse_week(week)
    anomaly = fitted.scorer.fitted.anomaly
    return {
        "week": week,
        "week_start": start.isoformat(),
        "week_end": end.isoformat(),
        "events_source": fitted.source,
        "stacker": fitted.supervised.note,
        "min_labels": config.min_labels,
        "rules_version": fitted.scorer.rules_version,
        "operating_note": fitted.point.note,
        **{f"operating_{k}": getattr(fitted.point.policy, k) for k in OPERATING_POLICY},
        **{f"operating_config_{k}": v for k, v in config.operating.__dict__.items()},
        "verdicts_judged": measured.verdicts.data if measured.verdicts is not None else "no (too few)",
        "anomaly_fit_accounts": anomaly.n_fit_accounts if anomaly else 0,
        "anomaly_cut": round(anomaly.cut, 6) if anomaly else "none",
        "champion_version": measured.champion_version or "none",
        "suite_seeds": ",".join(map(str, config.suite.seeds)),
        "suite_scale": config.suite.scale,
        "gate_tolerance": config.gates.tolerance,
        "gate_max_payout_change": config.gates.max_payout_change,
        "gate_decision": CHAMPION if measured.gate.passed else CHALLENGER,
        "gate_reason": measured.gate.reason,
        "backtest_note": measured.backtest.note or f"{measured.backtest.n_settlements} settlements",
        **{f"scoring_{k}": v for k, v in _params_dict(fitted.scorer.params).items()},
    }


def _params_dict(params: ScoringParams) -> dict[str, object]:
    return {k: ",".join(sorted(v)) if isinstance(v, frozenset) else v for k, v in params.__dict__.items()}


def write_artifacts(folder: Path, fitted: FittedWeek, measured: Measured, *, budget: float) -> None:
    """The run's artifacts into ``folder``: feature profile, drift, suite, backtest, gates, plots."""
    suite, champion_suite, drift = measured.suite, measured.champion_suite, measured.drift
    (folder / "drift").mkdir()
    (folder / PROFILE_ARTIFACT).write_text(json.dumps(feature_profile(fitted.features)))
    if drift is not None:
        previous_week = measured.previous[0] if measured.previous else ""
        drift.assign(previous_week=previous_week).to_csv(folder / "drift" / "psi.csv", index=False)
    else:
        (folder / "drift" / "psi.csv").write_text("feature,psi,status,previous_week\n")
    (folder / "suite").mkdir()
    suite.per_set.to_csv(folder / "suite" / "candidate.csv", index=False)
    if champion_suite is not None:
        champion_suite.per_set.to_csv(folder / "suite" / "champion.csv", index=False)
    (folder / "backtest").mkdir()
    measured.per_creator.to_csv(folder / "backtest" / "per_creator.csv", index=False)
    gate = measured.gate
    (folder / "gates.json").write_text(
        json.dumps({"passed": gate.passed, "reasons": list(gate.reasons)}, indent=2)
    )
    write_plots(
        folder / "plots", scores=suite.scores, recall=recall_table(suite, champion_suite), drift=drift
    )
    (folder / "operating").mkdir()
    fitted.point.curve.to_csv(folder / CURVE_ARTIFACT, index=False)
    if not fitted.point.curve.empty:
        write_operating_plot(
            folder / "plots" / "operating_point.png",
            fitted.point.curve,
            cut=fitted.point.policy.invalid_risk,
            hold_invalid_share=fitted.point.policy.hold_invalid_share,
            budget=budget,
        )


def input_example(events: pd.DataFrame, *, rows: int = 40) -> pd.DataFrame:
    """A few contract rows as plain text and numbers (the registered model's input example)."""
    columns = [c for c in (*EVENT_REQUIRED, *EVENT_OPTIONAL) if c in events]
    head = events[columns].head(rows).copy()
    for column in columns:
        if column == "user_followers":
            head[column] = head[column].astype("float64")
        elif isinstance(head[column].dtype, pd.DatetimeTZDtype):
            head[column] = head[column].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").astype(object)
        else:
            head[column] = head[column].astype("str").astype(object).where(head[column].notna(), None)
    return head.reset_index(drop=True)


def recall_table(candidate: SuiteResult, champion: SuiteResult | None) -> pd.DataFrame:
    """Recall per scheme, candidate and champion side by side."""

    def per_scheme(result: SuiteResult) -> pd.Series:
        return pd.Series(
            {k.removeprefix("recall_"): v for k, v in result.metrics.items() if k.startswith("recall_")}
        )

    table = pd.DataFrame({"candidate": per_scheme(candidate)})
    if champion is not None:
        table["champion"] = per_scheme(champion)
    return table
