"""The weekly training run: small pure steps, then ``run`` which loads, logs, registers and gates."""

from __future__ import annotations

import json
import tempfile
import zlib
from dataclasses import dataclass, field, replace
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
from training.gates import BacktestOutcome, GateConfig, GateResult, VerdictJudgement, judge
from training.labels import SAMPLE, label_weights, sample_counts
from training.operating import (
    VERDICT_COLUMNS,
    OperatingConfig,
    OperatingPoint,
    evaluate_point,
    hold_out_latest,
    learn_point,
)
from training.plots import write_operating_plot, write_plots
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
    operating: OperatingConfig = field(default_factory=OperatingConfig)
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


# the policy knobs an operating point sets (logged as operating_<knob>)
OPERATING_POLICY = (
    "invalid_risk",
    "review_risk",
    "hold_invalid_share",
    "hold_uncertain_share",
    "account_flag_risk",
)
CURVE_ARTIFACT = "operating/curve.csv"


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


def week_verdicts(engagements: pd.DataFrame, labels: pd.DataFrame, *, before: pd.Timestamp) -> pd.DataFrame:
    """Per account engaging in the window: its latest verdict decided before ``before``, with its weight.

    Columns ``VERDICT_COLUMNS`` (``weight``: inverse sampling probability, training/labels.py)
    and ``sample`` when the verdicts say how they were sampled.
    """
    known = labels.loc[labels["decided_at"] < before].sort_values("decided_at", kind="stable")
    latest = known.drop_duplicates("account_id", keep="last")
    latest = latest.assign(weight=label_weights(latest).to_numpy())
    in_week = latest["account_id"].isin(set(engagements["user_id"].astype("str").unique()))
    columns = [*VERDICT_COLUMNS, *([SAMPLE] if SAMPLE in latest else [])]
    return latest.loc[in_week.to_numpy(), columns].reset_index(drop=True)


@dataclass(frozen=True)
class Supervised:
    """The stacker (None when verdicts are too few), its metrics, why, and the held-out verdicts."""

    stacker: FittedStacker | None
    metrics: dict[str, float]
    note: str
    held: pd.DataFrame


def _per_engagement(engagements: pd.DataFrame, verdicts: pd.DataFrame, column: str) -> np.ndarray:
    """The verdicts' ``column`` per engagement of their accounts, NaN elsewhere."""
    table = verdicts.set_index("account_id")[column].astype("float64")
    return table.reindex(engagements["user_id"].astype("str")).to_numpy(dtype=np.float64)


def fit_supervised(
    events: pd.DataFrame,
    posts: pd.DataFrame | None,
    labels: pd.DataFrame | None,
    *,
    params: ScoringParams,
    anomaly: FittedAnomaly | None,
    before: pd.Timestamp,
    min_labels: int,
    holdout_share: float,
) -> Supervised:
    """The stacker from the earlier verdicts of the week, weighted by inverse sampling probability.

    The latest ``holdout_share`` of the labelled accounts (by decision time) is held
    out: the stacker's AP is measured there, and the operating point and the gates use
    it. None (and why) when fewer than ``min_labels`` labelled accounts or a single
    class. The metrics always count the verdicts: ``labels_verdicts`` and
    ``labels_accounts`` decided before ``before``, ``stacker_labelled_accounts`` of
    them engaging in the week, ``holdout_verdicts``, ``stacker_fitted`` 1 or 0.
    """
    if labels is None or labels.empty:
        return Supervised(None, label_counts(labels, before=before), "no review verdicts", _no_verdicts())
    base = WindowScorer(params=params, fitted=FittedState(anomaly=anomaly))
    scored = base.score(events, posts=posts)
    engagements = scored.engagements
    verdicts = week_verdicts(engagements, labels, before=before)
    is_held = hold_out_latest(verdicts, share=holdout_share)
    held, train = verdicts.loc[is_held], verdicts.loc[~is_held]
    metrics = {
        **label_counts(labels, before=before),
        **sample_counts(verdicts),
        "stacker_labelled_accounts": float(len(verdicts)),
        "holdout_verdicts": float(len(held)),
        "holdout_honest_verdicts": float((held["label"] == 0).sum()),
    }
    if len(verdicts) < min_labels or verdicts["label"].nunique() < 2:
        why = f"{len(verdicts)} labelled accounts in the week (need {min_labels}, both classes)"
        return Supervised(None, metrics, why, held)
    if train["label"].nunique() < 2:
        why = f"{len(verdicts)} labelled accounts, but the earlier {1 - holdout_share:.0%} has a single class"
        return Supervised(None, metrics, why, held)
    _, features = week_features(events, posts)
    X = stack_matrix(scored.detections, engagements, features)
    y, w = _per_engagement(engagements, train, "label"), _per_engagement(engagements, train, "weight")
    has = ~np.isnan(y)
    stacker = fit_stacker(X.loc[has], y[has] > 0.5, params=StackerParams(), sample_weight=w[has])
    metrics["stacker_fitted"] = 1.0
    y_held, w_held = _per_engagement(engagements, held, "label"), _per_engagement(engagements, held, "weight")
    test = ~np.isnan(y_held)
    if 0 < (y_held[test] > 0.5).sum() < test.sum():
        proba = stacker.model.predict_proba(X.loc[test])[:, 1]
        metrics["holdout_stacker_average_precision"] = float(
            average_precision_score(y_held[test] > 0.5, proba, sample_weight=w_held[test])
        )
    return Supervised(stacker, metrics, f"stacker fitted on {int(has.sum()):,} labelled engagements", held)


def _no_verdicts() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="float64" if c != "account_id" else "str") for c in VERDICT_COLUMNS}
    )


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
class FittedWeek:
    """A week's fitted scorer (its operating point pinned in its params) and what it was fitted on.

    ``scored`` is the week's engagements scored by the candidate (None when there are
    no held-out verdicts to measure it on); ``held`` the held-out verdicts.
    """

    scorer: WindowScorer
    events: pd.DataFrame
    posts: pd.DataFrame | None
    features: pd.DataFrame
    source: str
    supervised: Supervised
    point: OperatingPoint
    scored: pd.DataFrame | None


@dataclass(frozen=True)
class _Measured:
    suite: SuiteResult
    verdicts: VerdictJudgement | None
    champion_version: str | None
    champion_suite: SuiteResult | None
    backtest: BacktestOutcome
    per_creator: pd.DataFrame
    gate: GateResult
    previous: tuple[str, dict[str, Any]] | None
    drift: pd.DataFrame | None


def fit_week(config: TrainingConfig, data: WeekData) -> FittedWeek:
    """Fit the week's state (anomaly ensemble; stacker when verdicts suffice), learn its operating point."""
    _, end = parse_week(data.week)
    events, posts, source = training_events(data, config)
    _, features = week_features(events, posts)
    anomaly = fit_anomaly(features, params=AnomalyParams())
    supervised = fit_supervised(
        events,
        posts,
        data.labels,
        params=config.params,
        anomaly=anomaly,
        before=pd.Timestamp(end),
        min_labels=config.min_labels,
        holdout_share=config.operating.holdout_share,
    )
    fitted = FittedState(anomaly=anomaly, stacker=supervised.stacker)
    cold = config.params.policy
    scored = None
    if not supervised.held.empty:
        scored = WindowScorer(params=config.params, fitted=fitted).score(events, posts=posts).engagements
        point = learn_point(scored, supervised.held, cold=cold, config=config.operating)
    else:
        point = learn_point(pd.DataFrame(), supervised.held, cold=cold, config=config.operating)
    if supervised.stacker is not None and not point.learned:
        # a stacker only raises risk; at the cold cut it withheld several times the cold honest money
        # (benchmarks/learning_curve.py), so without a point within budget it does not decide
        fitted = FittedState(anomaly=anomaly)
        point = replace(point, note=f"{point.note}; the stacker is left out")
        if scored is not None:
            scored = WindowScorer(params=config.params, fitted=fitted).score(events, posts=posts).engagements
    scorer = WindowScorer(
        params=replace(config.params, policy=point.policy),
        fitted=fitted,
        week=data.week,
        description={"events": source, "stacker": supervised.note, "operating_point": point.note},
    )
    return FittedWeek(scorer, events, posts, features, source, supervised, point, scored)


def describe_verdicts(held: pd.DataFrame, *, share: float) -> str:
    """Which held-out verdicts: how many of each class, decided when, and what share of the week's."""
    n_honest, n_fraud = int((held["label"] == 0).sum()), int((held["label"] == 1).sum())
    first, last = held["decided_at"].min(), held["decided_at"].max()
    return (
        f"{len(held)} accounts, {n_honest} honest and {n_fraud} fraud, decided "
        f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}, the latest {share:.0%} of the week's verdicts"
    )


def judge_on_verdicts(
    config: TrainingConfig, fitted: FittedWeek, reference: WindowScorer, reference_name: str
) -> VerdictJudgement | None:
    """The candidate and ``reference`` at their own points on the held-out verdicts; None when too few."""
    held, confidence = fitted.supervised.held, config.operating.confidence
    if fitted.scored is None or (held["label"] == 0).sum() < config.operating.min_holdout_honest:
        return None
    if (held["label"] == 1).sum() == 0:
        return None
    baseline_window = reference.score(fitted.events, posts=fitted.posts).engagements
    return VerdictJudgement(
        candidate=evaluate_point(
            fitted.scored, held, policy=fitted.scorer.params.policy, confidence=confidence
        ),
        baseline=evaluate_point(baseline_window, held, policy=reference.params.policy, confidence=confidence),
        reference=reference_name,
        data=describe_verdicts(held, share=config.operating.holdout_share),
    )


def _measure(config: TrainingConfig, data: WeekData, fitted: FittedWeek, tracker: Tracker) -> _Measured:
    """Verdict and suite metrics of candidate and champion, the money backtest, the gates, drift."""
    suite = evaluate_suite(fitted.scorer, config.suite)
    champion = tracker.load(CHAMPION)
    champion_suite = evaluate_suite(champion.scorer, config.suite) if champion is not None else None
    reference = (
        (champion.scorer, f"the champion (version {champion.version})")
        if champion is not None
        else (WindowScorer(params=config.params), "the cold scorer")
    )
    verdicts = judge_on_verdicts(config, fitted, *reference)
    backtest, per_creator = money_backtest(fitted.scorer, data.history)
    suite_data = (
        f"simulated suite (seeds {','.join(map(str, config.suite.seeds))} at scale {config.suite.scale})"
    )
    gate = judge(
        suite.metrics,
        champion_suite.metrics if champion_suite else None,
        backtest,
        config.gates,
        suite_data=suite_data,
        verdicts=verdicts,
    )
    previous = tracker.previous_profile(data.week)
    drift = drift_report(previous[1], fitted.features) if previous is not None else None
    return _Measured(
        suite=suite,
        verdicts=verdicts,
        champion_version=champion.version if champion is not None else None,
        champion_suite=champion_suite,
        backtest=backtest,
        per_creator=per_creator,
        gate=gate,
        previous=previous,
        drift=drift,
    )


def _metrics(config: TrainingConfig, week: str, fitted: FittedWeek, measured: _Measured) -> dict[str, float]:
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


def _params(config: TrainingConfig, week: str, fitted: FittedWeek, measured: _Measured) -> dict[str, object]:
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


def run(config: TrainingConfig, data: WeekData) -> TrainingResult:
    """Fit, evaluate, log and register one week's scorer, then gate it: champion or challenger."""
    parse_week(data.week)
    tracker = Tracker(config.tracking_uri, model_name=config.model_name)
    fitted = fit_week(config, data)
    measured = _measure(config, data, fitted, tracker)
    metrics = _metrics(config, data.week, fitted, measured)
    gate = measured.gate
    alias = CHAMPION if gate.passed else CHALLENGER
    reason = gate.reason[:5000]
    with tracker.start_run(week=data.week, tags={"data": fitted.source[:250]}) as run_id:
        tracker.log_params(_params(config, data.week, fitted, measured))
        tracker.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as folder:
            _write_artifacts(Path(folder), fitted, measured, budget=config.operating.honest_withheld_budget)
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


def _write_artifacts(folder: Path, fitted: FittedWeek, measured: _Measured, *, budget: float) -> None:
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
