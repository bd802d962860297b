"""Per-row anomaly ensemble (pyod) over account feature frames; higher is riskier."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pyod.models.base import BaseDetector
from pyod.models.iforest import IForest
from pyod.models.pca import PCA
from sklearn.feature_selection import VarianceThreshold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, RobustScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from detectors.anomaly._found import AccountAnomalies, anomaly_detection
from detectors.anomaly._params import AnomalyParams
from detectors.base import Detection


def _signed_log(X: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Compress heavy tails (counts, seconds) while keeping order and sign."""
    return np.sign(X) * np.log1p(np.abs(X))


class AccountAnomalyEnsemble(BaseDetector):  # type: ignore[misc]
    """Isolation forest and PCA reconstruction error, combined by training percentile.

    Features are log-compressed and robustly scaled first.

    Each member's raw score is turned into its percentile among the training
    scores (fitted state), and the ensemble score is the mean percentile, so a
    row's score never depends on the other rows of its batch.

    Parameters
    ----------
    contamination : float
        Expected share of outliers; sets ``threshold_`` and ``labels_``.
    n_estimators : int
        Trees in the isolation forest.
    max_fit_rows : int
        Fit on a random subsample of at most this many rows (scoring covers all).
    random_state : int or None
        Seed of the isolation forest.

    Attributes
    ----------
    decision_scores_ : ndarray of shape (n_samples,)
        Ensemble scores of the training rows, in [0, 1].
    threshold_ : float
        Score above which a row is labelled an outlier.
    labels_ : ndarray of shape (n_samples,)
        0 inlier, 1 outlier, for the training rows.
    """

    def __init__(
        self,
        *,
        contamination: float = 0.05,
        n_estimators: int = AnomalyParams.n_estimators,
        max_fit_rows: int = AnomalyParams.max_fit_rows,
        random_state: int | None = None,
    ) -> None:
        self.contamination = contamination
        self.n_estimators = n_estimators
        self.max_fit_rows = max_fit_rows
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> AccountAnomalyEnsemble:
        """Fit the normaliser, the members and the training score percentiles."""
        if not 0.0 < self.contamination <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], got {self.contamination}")
        X = validate_data(self, X)
        self._set_n_classes(None)
        if len(X) > self.max_fit_rows:
            rows = np.random.default_rng(self.random_state).choice(len(X), self.max_fit_rows, replace=False)
            X = X[np.sort(rows)]
        self.scaler_ = make_pipeline(
            FunctionTransformer(_signed_log), VarianceThreshold(), RobustScaler()
        ).fit(X)
        Z = self.scaler_.transform(X)
        self.members_ = [
            IForest(
                n_estimators=self.n_estimators,
                contamination=self.contamination,
                random_state=self.random_state,
            ).fit(Z),
            PCA(contamination=self.contamination, standardization=False).fit(Z),
        ]
        self.train_scores_ = [np.sort(m.decision_scores_) for m in self.members_]
        self.decision_scores_ = self._ensemble(Z)
        self._process_decision_scores()
        return self

    def decision_function(self, X: Any) -> npt.NDArray[np.float64]:
        """Ensemble score in [0, 1] per row; higher is riskier."""
        check_is_fitted(self, "members_")
        X = validate_data(self, X, reset=False)
        return self._ensemble(self.scaler_.transform(X))

    def screened_decision_function(self, X: Any, *, at_least: float) -> npt.NDArray[np.float64]:
        """``decision_function`` where a row's score can reach ``at_least``, a bound below it elsewhere.

        The score is the mean of the members' training percentiles, each at most 1,
        so a row whose PCA percentile is below ``2 * at_least - 1`` cannot reach
        ``at_least``; it gets ``(1 + pca percentile) / 2``, an upper bound below
        ``at_least``, and the isolation forest (the costly member) scores only the
        other rows. Rows at or above ``at_least`` get exactly their ensemble score.
        """
        check_is_fitted(self, "members_")
        Z = self.scaler_.transform(validate_data(self, X, reset=False))
        forest, pca = self.members_
        forest_train, pca_train = self.train_scores_
        pca_pct = np.searchsorted(pca_train, pca.decision_function(Z), side="right") / len(pca_train)
        out = np.asarray((1.0 + pca_pct) / 2.0, dtype=np.float64)
        rows = np.flatnonzero(pca_pct >= 2.0 * at_least - 1.0)
        if len(rows):
            forest_pct = np.searchsorted(forest_train, forest.decision_function(Z[rows]), side="right") / len(
                forest_train
            )
            out[rows] = np.mean([forest_pct, pca_pct[rows]], axis=0)
        return out

    def _ensemble(self, Z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        percentiles = [
            np.searchsorted(train, member.decision_function(Z), side="right") / len(train)
            for member, train in zip(self.members_, self.train_scores_, strict=True)
        ]
        return np.asarray(np.mean(percentiles, axis=0), dtype=np.float64)


def ensemble_for(params: AnomalyParams) -> AccountAnomalyEnsemble:
    """An unfitted ensemble set up as ``params`` say."""
    return AccountAnomalyEnsemble(
        contamination=max(params.top_share, params.min_contamination),
        n_estimators=params.n_estimators,
        max_fit_rows=params.max_fit_rows,
        random_state=params.random_state,
    )


def account_anomalies(
    engagements: pd.DataFrame, features: pd.DataFrame, *, params: AnomalyParams
) -> Detection:
    """Weak per-event evidence from how unusual the engaging account is in this window
    (``anomalous_accounts`` of the window's account features)."""
    return anomaly_detection(engagements, anomalous_accounts(features, params=params))


def anomalous_accounts(features: pd.DataFrame, *, params: AnomalyParams) -> AccountAnomalies:
    """The window's unusual accounts, with the event score each gives.

    The ensemble is fitted on the window's own accounts (cold start, ``features``: the
    whole window's, in its order); accounts in the top ``top_share`` of ensemble scores
    give their events up to ``weight``. Honest users can be odd too, so this never
    invalidates an engagement alone.
    """
    # one engagement says too little about an account to call it unusual
    features = features[features["n_engagements"] >= params.min_engagements]
    if len(features) < params.min_accounts:
        return AccountAnomalies(None)
    model = ensemble_for(params)
    top_share = params.top_share
    X = features.astype("float64")
    values = X.fillna(X.median()).fillna(0.0).to_numpy()
    cut = 1.0 - top_share
    try:
        ensemble = model.fit(values).screened_decision_function(values, at_least=cut)
    except ValueError:  # every feature constant in this window: nothing is unusual
        return AccountAnomalies(None)
    per_account = params.weight * np.clip((ensemble - cut) / top_share, 0.0, 1.0)
    is_odd = per_account > 0
    return AccountAnomalies(
        pd.Series(per_account[is_odd], index=features.index[is_odd]),
        f"anomaly: account among the {top_share:.0%} most unusual of {len(features):,} in the window",
    )
