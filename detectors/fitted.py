"""Fitted state of the window scorer: what weekly training learns, applied to any window.

Cold scoring (no fitted state) fits the anomaly ensemble on each window's own
accounts. A trained scorer instead carries an ensemble fitted on a whole week's
accounts with a calibrated cut, so an account's anomaly score no longer depends
on the window it is scored in, and, once the risk team's verdicts are numerous
enough, a supervised stacker over the detector scores and a few account features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.anomaly import AccountAnomalies, AnomalyParams, anomaly_detection
from detectors.base import Detection
from detectors.registry import DETECTORS

if TYPE_CHECKING:
    # pyod and scikit-learn take about a second to import: they load when a model is fitted or
    # unpickled, so that scoring reads its files while a thread imports them (``cpeguard.scoring``)
    from sklearn.ensemble import HistGradientBoostingClassifier

    from detectors.anomaly import AccountAnomalyEnsemble

# the registry's stacked detectors are the columns the stacker reads; a disabled one reads as 0
STACKED_DETECTORS: tuple[str, ...] = tuple(spec.name for spec in DETECTORS if spec.stacked)
STACKED_FEATURES: tuple[str, ...] = (
    "n_engagements",
    "n_posts",
    "n_creators",
    "age_days",
    "device_accounts",
    "ip_accounts",
)


@dataclass(frozen=True)
class StackerParams:
    """Knobs of the supervised stacker: its gradient boosting and how its probability scores."""

    # boosting iterations of the classifier
    max_iter: int = 200
    # shrinkage of each boosting iteration
    learning_rate: float = 0.1
    # seed of the classifier
    random_state: int = 0
    # event score per unit of the classifier's fraud probability (clipped to 1)
    weight: float = 1.0
    # an engagement scored at least this is counted in the supervised group's evidence
    min_group_score: float = 0.5


@dataclass(frozen=True)
class FittedAnomaly:
    """The anomaly ensemble fitted on a week's accounts, with its calibrated cut.

    ``cut`` is the ensemble score of the ``1 - top_share`` quantile of the
    training accounts; accounts above it give their events up to ``weight``
    (``params``: those the ensemble was fitted with).
    """

    model: AccountAnomalyEnsemble
    columns: tuple[str, ...]
    fill: tuple[float, ...]
    cut: float
    params: AnomalyParams
    n_fit_accounts: int

    def detect(self, engagements: pd.DataFrame, features: pd.DataFrame) -> Detection:
        """Weak per-event evidence from how unusual each engaging account is against the week."""
        return anomaly_detection(engagements, self.accounts(features))

    def accounts(self, features: pd.DataFrame) -> AccountAnomalies:
        """The unusual accounts among ``features`` (a window's accounts) against the week, with the
        event score each gives."""
        features = features[features["n_engagements"] >= self.params.min_engagements]
        if features.empty:
            return AccountAnomalies(None)
        values = (
            features[list(self.columns)]
            .astype("float64")
            .fillna(dict(zip(self.columns, self.fill, strict=True)))
        )
        ensemble = self.model.decision_function(values.fillna(0.0).to_numpy())
        per_account = self.params.weight * np.clip(
            (ensemble - self.cut) / max(1.0 - self.cut, 1e-9), 0.0, 1.0
        )
        is_odd = per_account > 0
        evidence = (
            f"anomaly: account among the {self.params.top_share:.0%} most unusual of the "
            f"{self.n_fit_accounts:,} accounts of the training week"
        )
        return AccountAnomalies(pd.Series(per_account[is_odd], index=features.index[is_odd]), evidence)


def fit_anomaly(features: pd.DataFrame, *, params: AnomalyParams) -> FittedAnomaly | None:
    """The ensemble fitted on a week's account features; None with fewer than ``min_accounts`` usable."""
    features = features[features["n_engagements"] >= params.min_engagements]
    if len(features) < params.min_accounts:
        return None
    X = features.astype("float64")
    fill = X.median().fillna(0.0)
    values = X.fillna(fill).to_numpy()
    from detectors.anomaly import ensemble_for

    model = ensemble_for(params)
    try:
        train_scores = model.fit(values).decision_function(values)
    except ValueError:  # every feature constant: nothing to learn
        return None
    return FittedAnomaly(
        model=model,
        columns=tuple(X.columns),
        fill=tuple(float(v) for v in fill),
        cut=float(np.quantile(train_scores, 1.0 - params.top_share)),
        params=params,
        n_fit_accounts=len(features),
    )


def stack_matrix(
    detections: Sequence[Detection], engagements: pd.DataFrame, features: pd.DataFrame
) -> pd.DataFrame:
    """Per engagement: every stacked detector's score and the engaging account's stacked features."""
    by_name = {d.name: d.event_score for d in detections}
    n = len(engagements)
    columns = {f"score_{name}": by_name.get(name, np.zeros(n)) for name in STACKED_DETECTORS}
    account = features.reindex(engagements["user_id"].to_numpy())
    for name in STACKED_FEATURES:
        columns[name] = account[name].to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(columns)


@dataclass(frozen=True)
class FittedStacker:
    """A gradient-boosted classifier of engagements from confirmed review verdicts."""

    model: HistGradientBoostingClassifier
    n_labels: int
    params: StackerParams

    def detect(
        self, detections: Sequence[Detection], engagements: pd.DataFrame, features: pd.DataFrame
    ) -> Detection:
        """Evidence that the engaging account resembles accounts the risk team confirmed as fraud."""
        X = stack_matrix(detections, engagements, features)
        proba: npt.NDArray[np.float64] = self.model.predict_proba(X)[:, 1] if len(X) else np.zeros(0)
        score = np.clip(self.params.weight * proba, 0.0, 1.0)
        group = np.where(score >= self.params.min_group_score, 0, -1).astype(np.int64)
        groups = pd.DataFrame(
            {
                "group_id": [0],
                "n_accounts": [int(engagements.loc[group >= 0, "user_id"].nunique())],
                "n_posts": [int(engagements.loc[group >= 0, "post_id"].nunique())],
                "evidence": [
                    f"supervised: resembles accounts confirmed as fraud in {self.n_labels:,} reviews"
                ],
            }
        )
        return Detection("supervised", np.asarray(score, dtype=np.float64), group, groups)


def fit_stacker(
    X: pd.DataFrame,
    y: npt.NDArray[np.bool_],
    *,
    params: StackerParams,
    sample_weight: npt.NDArray[np.float64] | None = None,
) -> FittedStacker:
    """The stacker fitted on labelled engagements (``X`` from ``stack_matrix``), optionally weighted."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        max_iter=params.max_iter, learning_rate=params.learning_rate, random_state=params.random_state
    )
    model.fit(X, y.astype(np.int64), sample_weight=sample_weight)
    return FittedStacker(model=model, n_labels=len(y), params=params)


@dataclass(frozen=True)
class FittedState:
    """Everything a training run fitted; absent parts fall back to cold scoring."""

    anomaly: FittedAnomaly | None = None
    stacker: FittedStacker | None = None
