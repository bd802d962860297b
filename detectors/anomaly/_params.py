"""The anomaly detector's knobs, importable without loading pyod or scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AnomalyParams:
    """Knobs of the anomaly detector, cold (fitted on the window) or fitted on a training week."""

    # event score of the most unusual accounts (weak: honest users can be odd too)
    weight: float = 0.3
    # share of accounts called unusual: the ensemble's cut is at this top quantile
    top_share: float = 0.02
    # the ensemble's contamination is ``top_share`` but never below this
    min_contamination: float = 0.01
    # accounts with fewer engagements say too little to be called unusual
    min_engagements: int = 2
    # with fewer usable accounts no ensemble is fitted (nothing is unusual)
    min_accounts: int = 50
    # trees in the isolation forest
    n_estimators: int = 50
    # the ensemble is fitted on a random subsample of at most this many accounts
    max_fit_rows: int = 20_000
    # seed of the subsample and of the isolation forest
    random_state: int = 0
