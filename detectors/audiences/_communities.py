"""Audience communities of creator units: the unit graph beyond a configuration model, its Louvain
communities, agglomerated by insularity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from detectors.audiences._agglomerate import _agglomerate, _pair_sums
from detectors.audiences._arrays import FloatArray, IntArray
from detectors.audiences._louvain import _louvain, _strongest
from detectors.audiences._params import AudienceParams
from features.arrays import distinct, sorted_inverse


@dataclass(frozen=True)
class UnitPairs:
    """The distinct (light account, creator unit) pairs as an account x unit matrix: what ``_communities``
    counts, built once for every weighting of the accounts."""

    accounts: IntArray  # per row of ``matrix``: its account
    matrix: sparse.csr_matrix  # ones at (account rank, unit)
    n_units: int

    @classmethod
    def of(cls, user: IntArray, unit: IntArray, n_units: int) -> UnitPairs:
        """The pairs of the (account, unit) rows ``user``, ``unit`` (repeats counted once)."""
        pairs = distinct(user * n_units + unit)
        # the pairs come by account: their runs are the accounts
        accounts, rows = sorted_inverse(pairs // n_units)
        x = sparse.csr_matrix((np.ones(len(pairs)), (rows, pairs % n_units)), shape=(len(accounts), n_units))
        return cls(accounts, x, n_units)


def _communities(
    pairs: UnitPairs,
    *,
    params: AudienceParams,
    account_weight: FloatArray | None = None,
    start: IntArray | None = None,
) -> tuple[IntArray, IntArray]:
    """Per creator unit: its audience community, inferred from the light accounts units share
    (``pairs``), at ``min_insularity`` and at ``pool_min_insularity`` (the pool test's).

    Louvain communities of the unit graph, each unit tied to its ``neighbours``
    strongest neighbours by the accounts they share beyond a configuration
    model. A community of fewer than ``min_community_creators`` units joins
    the large community it shares most with; then, least insular first, a
    community whose co-engagement beyond chance stays inside less than
    ``min_insularity`` of the time joins the one it shares most with. ``start``: per unit the group
    Louvain starts it in (``_louvain``; the history's own communities, ``unit_start``).
    """
    weight = np.ones(len(pairs.accounts)) if account_weight is None else account_weight[pairs.accounts]
    a, b, shared, engagers, spread = _shared(pairs, weight)
    pair_mass = float((weight * spread * (spread - 1)).sum())
    found, placed = _found(a, b, shared, engagers, pair_mass, params, start)
    k = int(found.max(initial=-1)) + 1
    if k < 2:
        return np.zeros(pairs.n_units, dtype=np.int64), np.zeros(pairs.n_units, dtype=np.int64)
    # every shared account counts, not only ties beyond chance: a seller's book, tied inside by its
    # pool, shares its creators' organic fans with the rest as chance says and is no audience
    both = placed[a] & placed[b]
    observed = _pair_sums(found[a[both]], found[b[both]], shared[both], k)
    # chance over every pair of placed units, those that share no account included
    mass = np.bincount(found[placed], weights=engagers[placed], minlength=k).astype(np.float64)
    per_pair = pair_mass / float(engagers.sum()) ** 2
    own = np.bincount(found[placed], weights=engagers[placed] ** 2, minlength=k).astype(np.float64)
    expected = (np.outer(mass, mass) - np.diag(own)) * per_pair
    sizes = np.bincount(found[placed], minlength=k)
    coarse, finer = _agglomerate(observed, expected, sizes, params=params)
    return _placed(coarse, found, placed), _placed(finer, found, placed)


def _shared(
    pairs: UnitPairs, weight: FloatArray
) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
    """The unit pairs that share a light account (``a`` < ``b``), their weighted shared accounts, each
    unit's weighted engagers and each account's spread (units engaged)."""
    x = pairs.matrix
    shared = sparse.triu(x.T @ sparse.diags(weight) @ x, k=1).tocoo()
    engagers, spread = x.T @ weight, np.asarray(x.sum(axis=1)).ravel()
    return shared.row.astype(np.int64), shared.col.astype(np.int64), shared.data, engagers, spread


def _found(
    a: IntArray,
    b: IntArray,
    shared: FloatArray,
    engagers: FloatArray,
    pair_mass: float,
    params: AudienceParams,
    start: IntArray | None,
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Per unit its Louvain community (-1: tied to none) and whether it is tied: units tied by the
    accounts they share beyond a configuration model (``pair_mass``: the accounts' weighted pairs of
    units), each to its ``neighbours`` strongest neighbours."""
    chance = pair_mass * engagers[a] * engagers[b] / float(engagers.sum()) ** 2
    excess = shared - chance
    tied = excess > 0
    # units tied to none (no light engager shared beyond chance) join the largest audience at the end
    placed = np.zeros(len(engagers), dtype=bool)
    placed[a[tied]], placed[b[tied]] = True, True
    strongest = _strongest(a[tied], b[tied], excess[tied], params.neighbours)
    found = _louvain(
        a[tied][strongest],
        b[tied][strongest],
        excess[tied][strongest],
        np.flatnonzero(placed),
        len(engagers),
        params,
        start,
    )
    return found, placed


def _louvain_of(pairs: UnitPairs, *, params: AudienceParams) -> IntArray:
    """Per unit its Louvain community before any agglomeration (-1: tied to none), every account
    counted once: what ``_communities`` starts from."""
    weight = np.ones(len(pairs.accounts))
    a, b, shared, engagers, spread = _shared(pairs, weight)
    return _found(a, b, shared, engagers, float((spread * (spread - 1)).sum()), params, None)[0]


def _placed(group: IntArray, found: IntArray, placed: npt.NDArray[np.bool_]) -> IntArray:
    """Per unit the community numbered ``group`` of its Louvain community; units tied to none join the
    largest."""
    number = np.unique(group, return_inverse=True)[1]
    out = np.full(len(found), int(np.argmax(np.bincount(number[found[placed]]))), dtype=np.int64)
    out[placed] = number[found[placed]]
    return out
