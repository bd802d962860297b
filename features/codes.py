"""Integer codes of id columns, the currency of every vectorised feature."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd


def codes(values: pd.Series) -> npt.NDArray[np.int64]:
    """Integer codes of a column, -1 where missing; free when the column is already categorical."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return np.asarray(values.cat.codes.to_numpy(), dtype=np.int64)
    return np.asarray(pd.factorize(values)[0], dtype=np.int64)


def is_in(values: pd.Series, allowed: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    """Per row: the value is one of ``allowed`` (via categories when categorical)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        hit = np.isin(values.cat.categories.to_numpy(dtype=object), allowed)
        c = values.cat.codes.to_numpy()
        return np.where(c >= 0, hit[np.maximum(c, 0)], False)
    return np.asarray(values.isin(allowed).to_numpy(), dtype=bool)


def equals(values: pd.Series, wanted: str) -> npt.NDArray[np.bool_]:
    """Per row: the value equals ``wanted``."""
    return is_in(values, (wanted,))


def distinct(x: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sorted distinct values of an integer array (a sort and a diff: faster than np.unique here)."""
    if len(x) == 0:
        return np.asarray(x, dtype=np.int64)
    ordered = np.sort(x, kind="stable")
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return np.asarray(ordered[keep], dtype=np.int64)


def distinct_counts(x: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Sorted distinct values of an integer array and how often each occurs."""
    if len(x) == 0:
        empty = np.asarray(x, dtype=np.int64)
        return empty, empty
    ordered = np.sort(x, kind="stable")
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(ordered)])
    return np.asarray(ordered[starts], dtype=np.int64), counts.astype(np.int64)


def distinct_inverse(
    x: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``np.unique(x, return_inverse=True, return_counts=True)`` by one sort (faster here)."""
    x = np.asarray(x, dtype=np.int64)
    if len(x) == 0:
        return x, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    is_first = np.empty(len(x), dtype=bool)
    is_first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=is_first[1:])
    inverse = np.empty(len(x), dtype=np.int64)
    inverse[order] = np.cumsum(is_first) - 1
    starts = np.flatnonzero(is_first)
    return ordered[starts], inverse, np.diff(np.r_[starts, len(x)]).astype(np.int64)
