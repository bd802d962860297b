"""Feature drift between weeks: population stability index (PSI) per account feature."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

STABLE_PSI = 0.1
SHIFTED_PSI = 0.25
_EPS = 1e-4


def feature_profile(features: pd.DataFrame, *, bins: int = 10) -> dict[str, Any]:
    """Per feature: interior quantile cut points and the share of rows per bin (last bin: missing).

    This is what a week keeps so that the next week can be compared with it
    without the old events.
    """
    profile: dict[str, Any] = {"n_rows": len(features), "features": {}}
    for column in features.columns:
        values = features[column].to_numpy(dtype=np.float64, na_value=np.nan)
        present = values[~np.isnan(values)]
        edges = (
            np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
            if len(present)
            else np.zeros(0)
        )
        profile["features"][str(column)] = {
            "edges": [float(e) for e in edges],
            "shares": [float(s) for s in _shares(values, edges)],
        }
    return profile


def _shares(values: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    missing = np.isnan(values)
    counts = np.bincount(np.searchsorted(edges, values[~missing], side="right"), minlength=len(edges) + 1)
    counts = np.append(counts, missing.sum()).astype(np.float64)
    return counts / max(len(values), 1)


def psi(expected: npt.NDArray[np.float64], actual: npt.NDArray[np.float64]) -> float:
    """Population stability index of two bin-share vectors (empty bins count as 0.01%)."""
    e = np.maximum(expected, _EPS)
    a = np.maximum(actual, _EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_report(previous: dict[str, Any], features: pd.DataFrame) -> pd.DataFrame:
    """Per feature of the previous profile: PSI of this week's rows against it, and a verdict."""
    rows = []
    for name, past in previous["features"].items():
        if name not in features:
            rows.append({"feature": name, "psi": np.nan, "status": "missing this week"})
            continue
        edges = np.asarray(past["edges"], dtype=np.float64)
        now = _shares(features[name].to_numpy(dtype=np.float64, na_value=np.nan), edges)
        value = psi(np.asarray(past["shares"], dtype=np.float64), now)
        status = "stable" if value < STABLE_PSI else "moderate" if value < SHIFTED_PSI else "shifted"
        rows.append({"feature": name, "psi": value, "status": status})
    return pd.DataFrame(rows, columns=["feature", "psi", "status"])
