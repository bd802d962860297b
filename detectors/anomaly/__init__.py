"""The pyod anomaly ensemble over account features (weak evidence: honest users can be odd too).

``AnomalyParams`` imports at once; the ensemble and its functions load pyod and
scikit-learn, which take about a second, so they are imported on first use
(a detector thread pays for it beside the others, not every process start).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from detectors.anomaly._found import NAME, AccountAnomalies, anomaly_detection
from detectors.anomaly._params import AnomalyParams

if TYPE_CHECKING:
    from detectors.anomaly._ensemble import (
        AccountAnomalyEnsemble,
        account_anomalies,
        anomalous_accounts,
        ensemble_for,
    )

__all__ = [
    "NAME",
    "AccountAnomalies",
    "AccountAnomalyEnsemble",
    "AnomalyParams",
    "account_anomalies",
    "anomalous_accounts",
    "anomaly_detection",
    "ensemble_for",
    "load_ensemble",
]
_LAZY = frozenset({"AccountAnomalyEnsemble", "account_anomalies", "anomalous_accounts", "ensemble_for"})


def load_ensemble() -> None:
    """Import the ensemble's libraries now: a long-lived process (the service) does it at start-up,
    so that its first detection run does not (about 3 s of imports on a loaded machine)."""
    importlib.import_module("detectors.anomaly._ensemble")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("detectors.anomaly._ensemble"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
