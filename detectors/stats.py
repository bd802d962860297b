"""Tail probabilities the detectors test their groups with, in one sign convention.

Convention: a tail function returns the natural log of the tail probability,
``log P(X >= observed)`` (so <= 0, and 0 where ``observed <= 0``), computed without
underflow.  Detectors report evidence as ``-log10 p`` (>= 0, "p < 1e-k"):
:func:`evidence_log10` converts, capped at :data:`MAX_LOG10`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# -log10 p beyond this is reported as this: float64 p-values stop near 1e-308.
MAX_LOG10 = 300.0
LN10 = float(np.log(10.0))


def poisson_log_sf(observed: npt.ArrayLike, mean: npt.ArrayLike) -> FloatArray:
    """``log P(X >= observed)``, X ~ Poisson(mean): 0 where ``observed <= 0``, -inf where ``mean <= 0``.

    Deep in the tail, where scipy's ``logsf`` underflows, the sum is its first
    term times at most a geometric factor: ``log pmf(observed) - log(1 - r)`` with
    ``r = min(mean / (observed + 1), 1/2)``.
    """
    from scipy import stats  # imported on first use, in a detector thread

    x = np.asarray(observed, dtype=np.float64)
    mu = np.asarray(mean, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_sf = np.asarray(stats.poisson.logsf(x - 1, mu), dtype=np.float64)
        deep = ~np.isfinite(log_sf)
        if deep.any():
            tail = stats.poisson.logpmf(x, mu) - np.log1p(-np.minimum(mu / (x + 1), 0.5))
            log_sf = np.where(deep, tail, log_sf)
    log_sf = np.where(mu <= 0, -np.inf, log_sf)
    return np.asarray(np.where(x <= 0, 0.0, log_sf), dtype=np.float64)


def binom_log_sf(hits: npt.ArrayLike, trials: npt.ArrayLike, p: npt.ArrayLike) -> FloatArray:
    """``log P(X >= hits)``, X ~ Binomial(trials, p); ``log pmf(hits)`` where scipy's ``logsf`` underflows.

    The fallback only acts beyond float64's range (p < 1e-308), where
    :func:`evidence_log10` caps the evidence anyway.
    """
    from scipy import stats  # imported on first use, in a detector thread

    x = np.asarray(hits, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_sf = np.asarray(stats.binom.logsf(x - 1, n, p), dtype=np.float64)
        log_sf = np.where(np.isfinite(log_sf), log_sf, stats.binom.logpmf(x, n, p))
    return np.asarray(log_sf, dtype=np.float64)


def evidence_log10(log_sf: npt.ArrayLike) -> FloatArray:
    """``-log10 p`` of natural-log tail probabilities, in ``[0, MAX_LOG10]``; nan counts as no evidence."""
    out = -np.asarray(log_sf, dtype=np.float64) / LN10
    out = np.clip(np.nan_to_num(out, nan=0.0, posinf=MAX_LOG10), 0.0, MAX_LOG10)
    return np.asarray(out + 0.0, dtype=np.float64)  # + 0.0 turns -0.0 into 0.0


def log10_choose(n: int, k: int) -> float:
    """log10 of the binomial coefficient C(n, k)."""
    from scipy import special

    return float(
        (special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)) / np.log(10.0)
    )
