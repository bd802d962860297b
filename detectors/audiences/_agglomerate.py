"""Agglomeration by insularity: small communities join their closest, then the least insular merge
until every community is an audience (at the dense-block test's bar and at the pool test's)."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from detectors.audiences._arrays import FloatArray, IntArray
from detectors.audiences._insularity import _insular
from detectors.audiences._params import AudienceParams


def _pair_sums(ca: IntArray, cb: IntArray, value: FloatArray, k: int) -> FloatArray:
    """Symmetric k x k sums of ``value`` over unit pairs, by the pair's communities."""
    # a flat bincount adds the values in their order, as ``np.add.at`` would, faster
    out = np.bincount(ca * k + cb, weights=value, minlength=k * k).reshape(k, k)
    return np.asarray(out + out.T, dtype=np.float64)


def _agglomerate(
    observed: FloatArray, expected: FloatArray, size: IntArray, *, params: AudienceParams
) -> tuple[IntArray, IntArray]:
    """Per found community the audience it joins, at ``min_insularity`` and at ``pool_min_insularity``:
    small or mixed communities merge until none is left.

    ``observed`` and ``expected`` hold the shared accounts per pair of the
    found communities (both ends counted), ``size`` their units. Communities of
    fewer than ``min_community_creators`` units join, all at once and in
    rounds, the community they share most with beyond chance. Then, while a
    community is less insular than the bar, the least insular joins the one
    it shares most with (insularity: ``_insular``). The merges are the same
    whatever the bar, so the partition at the lower bar is the higher's
    before its last merges: a finer one.
    """
    # as sparse matrices once: every merge sums them anew
    observed, expected = sparse.csr_matrix(observed), sparse.csr_matrix(expected)
    group = _join_small(observed, expected, size, params=params)
    low, high = sorted((params.pool_min_insularity, params.min_insularity))
    at_low = None
    seen, chance, units = _merged(observed, expected, size, group)
    while len(units) > 1:
        insular = _insular(seen, chance)
        worst = int(np.argmin(insular))
        if at_low is None and insular[worst] >= low:
            at_low = group
        if insular[worst] >= high:
            break
        ties = seen[worst] - chance[worst]
        ties[worst] = -np.inf
        number = np.unique(group, return_inverse=True)[1]
        number[number == worst] = int(np.argmax(ties))
        group = number
        seen, chance, units = _merged(observed, expected, size, group)
    at_low = group if at_low is None else at_low
    finer = at_low if params.pool_min_insularity <= params.min_insularity else group
    coarse = group if params.pool_min_insularity <= params.min_insularity else at_low
    return (
        np.asarray(np.unique(coarse, return_inverse=True)[1], dtype=np.int64),
        np.asarray(np.unique(finer, return_inverse=True)[1], dtype=np.int64),
    )


def _join_small(
    observed: sparse.csr_matrix, expected: sparse.csr_matrix, size: IntArray, *, params: AudienceParams
) -> IntArray:
    """Per found community its group once communities of fewer than ``min_community_creators`` units
    joined, in rounds, the community they share most with beyond chance (ties to the larger)."""
    group = np.arange(len(size))
    while True:
        seen, chance, units = _merged(observed, expected, size, group)
        small = units < params.min_community_creators
        if len(units) < 2 or not small.any():
            return group
        ties = seen - chance + 1e-9 * units[None, :] / units.max()
        np.fill_diagonal(ties, -np.inf)
        target = np.where(small, np.argmax(ties, axis=1), np.arange(len(units)))
        link = sparse.coo_matrix(
            (np.ones(len(units)), (np.arange(len(units)), target)), (len(units), len(units))
        )
        group = csgraph.connected_components(link, directed=False)[1][
            np.unique(group, return_inverse=True)[1]
        ]


def _merged(
    observed: sparse.csr_matrix, expected: sparse.csr_matrix, size: IntArray, group: IntArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``observed``, ``expected`` and ``size`` summed over the groups (numbered in sorted order)."""
    number = np.unique(group, return_inverse=True)[1]
    merge = sparse.csr_matrix((np.ones(len(group)), (np.arange(len(group)), number)))
    return (
        np.asarray((merge.T @ observed @ merge).todense()),
        np.asarray((merge.T @ expected @ merge).todense()),
        np.bincount(number, weights=size).astype(np.float64),
    )
