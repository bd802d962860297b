"""The weekly training run: small pure steps, then ``run`` which loads, logs, registers and gates."""

from __future__ import annotations

import json
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from detectors.anomaly import AnomalyParams
from detectors.fitted import (
    FittedAnomaly,
    FittedStacker,
    FittedState,
    StackerParams,
    fit_anomaly,
    fit_stacker,
    stack_matrix,
)
from detectors.model import WindowScorer
from detectors.params import ScoringParams
from features.account_features import account_features
from features.contract import clean_events
from features.dedup import distinct_engagements
from features.schema import EVENT_OPTIONAL, EVENT_REQUIRED
from features.timing import publication_times
from training.backtest import SettledHistory, money_backtest
from training.drift import drift_report, feature_profile
from training.evaluation import evaluate
from training.gates import BacktestOutcome, GateConfig, GateResult, judge
from training.plots import write_plots
from training.simulator import SimConfig, simulate
from training.suite import SuiteConfig, SuiteResult, evaluate_suite, flat_metrics
from training.tracking import CHALLENGER, CHAMPION, MODEL_NAME, PROFILE_ARTIFACT, Tracker
from training.weeks import parse_week


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a training run needs besides its data (built by the entry layer from Settings)."""

    tracking_uri: str
    params: ScoringParams = field(default_factory=ScoringParams)
    model_name: str = MODEL_NAME
    suite: SuiteConfig = field(default_factory=SuiteConfig)
    gates: GateConfig = field(default_factory=GateConfig)
    min_week_events: int = 2_000
    min_labels: int = 200
    cold_start_scale: float = 1.0


@dataclass(frozen=True)
class WeekData:
    """One ISO week's inputs: its clean events, the verdicts so far, and the last settlements."""

    week: str
    events: pd.DataFrame
    posts: pd.DataFrame | None = None
    labels: pd.DataFrame | None = None
    history: SettledHistory | None = None
    source: str = "given"


@dataclass(frozen=True)
class TrainingResult:
    """What a run produced and decided."""

    run_id: str
    week: str
    version: str
    alias: str
    gate: GateResult
    metrics: dict[str, float]


# pure steps --------------------------------------------------------------------------------------
def week_seed(week: str) -> int:
    """A stable seed per week (for the cold-start and held-out simulated sets)."""
    return zlib.crc32(week.encode()) % 1_000_000


def training_events(data: WeekData, config: TrainingConfig) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    """The week's events, or a simulated cold-start set when the week has too few."""
    if len(data.events) >= config.min_week_events:
        return data.events, data.posts, f"{data.source}: {len(data.events):,} events"
    sim = simulate(SimConfig(seed=week_seed(data.week), scale=config.cold_start_scale))
    events = clean_events(sim.events, source="cold-start simulation").frame
    note = (
        f"simulated cold start (the week had {len(data.events):,} events, "
        f"fewer than {config.min_week_events:,})"
    )
    return events, sim.posts, note


def week_features(events: pd.DataFrame, posts: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(distinct engagements, account features) of a window."""
    engagements = distinct_engagements(events)
    return engagements, account_features(engagements, publication_times(engagements, posts))


def engagement_labels(engagements: pd.DataFrame, labels: pd.DataFrame, *, before: pd.Timestamp) -> pd.Series:
    """Per engagement: 1/0 from the engaging account's latest verdict decided before ``before``, else NaN."""
    known = labels.loc[labels["decided_at"] < before].sort_values("decided_at")
    latest = known.drop_duplicates("account_id", keep="last").set_index("account_id")["label"]
    return pd.Series(latest.reindex(engagements["user_id"].astype("str")).to_numpy(dtype=np.float64))


def fit_supervised(
    events: pd.DataFrame,
    posts: pd.DataFrame | None,
    labels: pd.DataFrame | None,
    *,
    params: ScoringParams,
    anomaly: FittedAnomaly | None,
    before: pd.Timestamp,
    min_labels: int,
) -> tuple[FittedStacker | None, dict[str, float], str]:
    """The stacker from real verdicts (80% of labelled accounts), its held-out AP on the other 20%.

    None (and why) when fewer than ``min_labels`` labelled accounts or a single class. The metrics
    always count the verdicts: ``labels_verdicts`` and ``labels_accounts`` decided before ``before``,
    ``stacker_labelled_accounts`` of them engaging in the week, ``stacker_fitted`` 1 or 0.
    """
    if labels is None or labels.empty:
        return None, label_counts(labels, before=before), "no review verdicts"
    base = WindowScorer(params=params, fitted=FittedState(anomaly=anomaly))
    scored = base.score(events, posts=posts)
    engagements = scored.engagements
    y = engagement_labels(engagements, labels, before=before)
    has = y.notna().to_numpy()
    accounts = engagements.loc[has, "user_id"].astype("str")
    by_account = y[has].groupby(accounts.to_numpy()).max()
    metrics = {**label_counts(labels, before=before), "stacker_labelled_accounts": float(len(by_account))}
    if len(by_account) < min_labels or by_account.nunique() < 2:
        why = f"{len(by_account)} labelled accounts in the week (need {min_labels}, both classes)"
        return None, metrics, why
    _, features = week_features(events, posts)
    X = stack_matrix(scored.detections, engagements, features)
    is_test = (
        engagements["user_id"]
        .astype("str")
        .map(lambda a: zlib.crc32(a.encode()) % 5 == 0)
        .to_numpy(dtype=bool)
    )
    train, test = has & ~is_test, has & is_test
    labels_y = y.fillna(0).to_numpy(dtype=np.float64) > 0.5
    if not 0 < labels_y[train].sum() < train.sum():
        why = f"{len(by_account)} labelled accounts, but the training split (80%) has a single class"
        return None, metrics, why
    stacker = fit_stacker(X.loc[train], labels_y[train], params=StackerParams())
    metrics["stacker_fitted"] = 1.0
    if 0 < labels_y[test].sum() < test.sum():
        proba = stacker.model.predict_proba(X.loc[test])[:, 1]
        metrics["holdout_stacker_average_precision"] = float(average_precision_score(labels_y[test], proba))
    return stacker, metrics, f"stacker fitted on {int(train.sum()):,} labelled engagements"


def label_counts(labels: pd.DataFrame | None, *, before: pd.Timestamp) -> dict[str, float]:
    """How many verdicts (and accounts) were decided before ``before``; ``stacker_fitted`` 0 so far."""
    known = labels.loc[labels["decided_at"] < before] if labels is not None else pd.DataFrame()
    return {
        "labels_verdicts": float(len(known)),
        "labels_accounts": float(known["account_id"].nunique()) if len(known) else 0.0,
        "stacker_fitted": 0.0,
    }


def holdout_metrics(scorer: WindowScorer, week: str, *, scale: float) -> dict[str, float]:
    """Metrics on a simulated set no training step saw (seed derived from the week)."""
    sim = simulate(SimConfig(seed=week_seed(week) + 1, scale=scale))
    scored = scorer.score(
        clean_events(sim.events, source="held-out simulation").frame, posts=sim.posts, campaigns=sim.campaigns
    )
    metrics = evaluate(
        engagements=scored.engagements,
        posts=scored.posts,
        accounts=scored.accounts,
        truth_events=sim.truth_events,
        truth_creators=sim.truth_creators,
    )
    return {f"holdout_{k}": v for k, v in flat_metrics(metrics).items()}


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


# the run -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Fitted:
    scorer: WindowScorer
    events: pd.DataFrame
    features: pd.DataFrame
    source: str
    stacker_note: str
    stacker_metrics: dict[str, float]


@dataclass(frozen=True)
class _Measured:
    suite: SuiteResult
    champion_version: str | None
    champion_suite: SuiteResult | None
    backtest: BacktestOutcome
    per_creator: pd.DataFrame
    gate: GateResult
    previous: tuple[str, dict[str, Any]] | None
    drift: pd.DataFrame | None


def _fit(config: TrainingConfig, data: WeekData) -> _Fitted:
    """Fit the week's state: the anomaly ensemble, and the stacker when verdicts suffice."""
    _, end = parse_week(data.week)
    events, posts, source = training_events(data, config)
    _, features = week_features(events, posts)
    anomaly = fit_anomaly(features, params=AnomalyParams())
    stacker, stacker_metrics, stacker_note = fit_supervised(
        events,
        posts,
        data.labels,
        params=config.params,
        anomaly=anomaly,
        before=pd.Timestamp(end),
        min_labels=config.min_labels,
    )
    scorer = WindowScorer(
        params=config.params,
        fitted=FittedState(anomaly=anomaly, stacker=stacker),
        week=data.week,
        description={"events": source, "stacker": stacker_note},
    )
    return _Fitted(scorer, events, features, source, stacker_note, stacker_metrics)


def _measure(config: TrainingConfig, data: WeekData, fitted: _Fitted, tracker: Tracker) -> _Measured:
    """Suite metrics of the candidate and the champion, the money backtest, the gates and drift."""
    suite = evaluate_suite(fitted.scorer, config.suite)
    champion = tracker.load(CHAMPION)
    champion_suite = evaluate_suite(champion.scorer, config.suite) if champion is not None else None
    backtest, per_creator = money_backtest(fitted.scorer, data.history)
    gate = judge(suite.metrics, champion_suite.metrics if champion_suite else None, backtest, config.gates)
    previous = tracker.previous_profile(data.week)
    drift = drift_report(previous[1], fitted.features) if previous is not None else None
    return _Measured(
        suite=suite,
        champion_version=champion.version if champion is not None else None,
        champion_suite=champion_suite,
        backtest=backtest,
        per_creator=per_creator,
        gate=gate,
        previous=previous,
        drift=drift,
    )


def _metrics(config: TrainingConfig, week: str, fitted: _Fitted, measured: _Measured) -> dict[str, float]:
    backtest, drift = measured.backtest, measured.drift
    metrics = {
        "n_events": float(len(fitted.events)),
        "n_accounts": float(len(fitted.features)),
        **{f"suite_{k}": v for k, v in measured.suite.metrics.items()},
        **holdout_metrics(fitted.scorer, week, scale=config.cold_start_scale),
        **fitted.stacker_metrics,
        "backtest_settlements": float(backtest.n_settlements),
        "backtest_paid": backtest.paid,
        "backtest_would_pay": backtest.would_pay,
        "backtest_abs_change": backtest.abs_change,
    }
    if measured.champion_suite is not None:
        metrics.update({f"champion_suite_{k}": v for k, v in measured.champion_suite.metrics.items()})
    if backtest.change_share is not None:
        metrics["backtest_change_share"] = backtest.change_share
    if drift is not None and drift["psi"].notna().any():
        metrics["drift_max_psi"] = float(drift["psi"].max())
    return metrics


def _params(config: TrainingConfig, week: str, fitted: _Fitted, measured: _Measured) -> dict[str, object]:
    start, end = parse_week(week)
    anomaly = fitted.scorer.fitted.anomaly
    return {
        "week": week,
        "week_start": start.isoformat(),
        "week_end": end.isoformat(),
        "events_source": fitted.source,
        "stacker": fitted.stacker_note,
        "min_labels": config.min_labels,
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
        **{f"scoring_{k}": v for k, v in _params_dict(config.params).items()},
    }


def run(config: TrainingConfig, data: WeekData) -> TrainingResult:
    """Fit, evaluate, log and register one week's scorer, then gate it: champion or challenger."""
    parse_week(data.week)
    tracker = Tracker(config.tracking_uri, model_name=config.model_name)
    fitted = _fit(config, data)
    measured = _measure(config, data, fitted, tracker)
    metrics = _metrics(config, data.week, fitted, measured)
    gate = measured.gate
    alias = CHAMPION if gate.passed else CHALLENGER
    reason = gate.reason[:5000]
    with tracker.start_run(week=data.week, tags={"data": fitted.source[:250]}) as run_id:
        tracker.log_params(_params(config, data.week, fitted, measured))
        tracker.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as folder:
            _write_artifacts(Path(folder), fitted.features, measured)
            tracker.log_artifacts(Path(folder))
        version = tracker.log_scorer(fitted.scorer, example=input_example(fitted.events))
        tracker.set_tags({"gate_decision": alias, "gate_reason": reason, "model_version": version})
        # inside the run: if the registry fails here the run ends FAILED and retrain tries the week again
        tracker.tag_version(version, {"week": data.week, "gate_decision": alias, "gate_reason": reason})
        tracker.set_alias(alias, version)
    return TrainingResult(
        run_id=run_id, week=data.week, version=version, alias=alias, gate=gate, metrics=metrics
    )


def _params_dict(params: ScoringParams) -> dict[str, object]:
    return {k: ",".join(sorted(v)) if isinstance(v, frozenset) else v for k, v in params.__dict__.items()}


def _write_artifacts(folder: Path, features: pd.DataFrame, measured: _Measured) -> None:
    suite, champion_suite, drift = measured.suite, measured.champion_suite, measured.drift
    (folder / "drift").mkdir()
    (folder / PROFILE_ARTIFACT).write_text(json.dumps(feature_profile(features)))
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
