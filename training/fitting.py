"""Fitting one week's scorer: the anomaly ensemble, the stacker from the week's review verdicts
(weighted by inverse sampling probability), and the operating point learned on the held-out ones."""

from __future__ import annotations

from dataclasses import dataclass, replace

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
from training.labels import SAMPLE, label_weights, sample_counts
from training.operating import VERDICT_COLUMNS, OperatingPoint, hold_out_latest, learn_point
from training.week_inputs import TrainingConfig, WeekData, training_events, week_features
from training.weeks import parse_week


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
