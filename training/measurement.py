"""A fitted week measured: on the simulated suite and the held-out verdicts against the champion
(or the cold scorer), the money backtest on the last settlements, the gates, and feature drift."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from detectors.model import WindowScorer
from features.contract import clean_events
from training.backtest import money_backtest
from training.drift import drift_report
from training.evaluation import evaluate
from training.fitting import FittedWeek
from training.gates import BacktestOutcome, GateResult, VerdictJudgement, judge
from training.operating import evaluate_point
from training.simulator import SimConfig, simulate
from training.suite import SuiteResult, evaluate_suite, flat_metrics
from training.tracking import CHAMPION, Tracker
from training.week_inputs import TrainingConfig, WeekData, week_seed


@dataclass(frozen=True)
class Measured:
    """A fitted week's measurements and the gates' decision, for the run to log and register."""

    suite: SuiteResult
    verdicts: VerdictJudgement | None
    champion_version: str | None
    champion_suite: SuiteResult | None
    backtest: BacktestOutcome
    per_creator: pd.DataFrame
    gate: GateResult
    previous: tuple[str, dict[str, Any]] | None
    drift: pd.DataFrame | None


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


def measure(config: TrainingConfig, data: WeekData, fitted: FittedWeek, tracker: Tracker) -> Measured:
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
    return Measured(
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
