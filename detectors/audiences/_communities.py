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
) -> tuple[IntArray, IntArray]:
    """Per creator unit: its audience community, inferred from the light accounts units share
    (``pairs``), at ``min_insularity`` and at ``pool_min_insularity`` (the pool test's).

    Louvain communities of the unit graph, each unit tied to its ``neighbours``
    strongest neighbours by the accounts they share beyond a configuration
    model. A community of fewer than ``min_community_creators`` units joins
    the large community it shares most with; then, least insular first, a
    community whose co-engagement beyond chance stays inside less than
    ``min_insularity`` of the time joins the one it shares most with.
    """
    accounts, x, n_units = pairs.accounts, pairs.matrix, pairs.n_units
    weight = np.ones(len(accounts)) if account_weight is None else account_weight[accounts]
    shared = sparse.triu(x.T @ sparse.diags(weight) @ x, k=1).tocoo()
    a, b = shared.row.astype(np.int64), shared.col.astype(np.int64)
    engagers, spread = x.T @ weight, np.asarray(x.sum(axis=1)).ravel()
    chance = (
        float((weight * spread * (spread - 1)).sum()) * engagers[a] * engagers[b] / float(engagers.sum()) ** 2
    )
    excess = shared.data - chance
    tied = excess > 0
    # units tied to none (no light engager shared beyond chance) join the largest audience at the end
    placed = np.zeros(n_units, dtype=bool)
    placed[a[tied]], placed[b[tied]] = True, True
    strongest = _strongest(a[tied], b[tied], excess[tied], params.neighbours)
    found = _louvain(
        a[tied][strongest],
        b[tied][strongest],
        excess[tied][strongest],
        np.flatnonzero(placed),
        n_units,
        params,
    )
    k = int(found.max(initial=-1)) + 1
    if k < 2:
        return np.zeros(n_units, dtype=np.int64), np.zeros(n_units, dtype=np.int64)
    # every shared account counts, not only ties beyond chance: a seller's book, tied inside by its
    # pool, shares its creators' organic fans with the rest as chance says and is no audience
    both = placed[a] & placed[b]
    observed = _pair_sums(found[a[both]], found[b[both]], shared.data[both], k)
    # chance over every pair of placed units, those that share no account included
    mass = np.bincount(found[placed], weights=engagers[placed], minlength=k).astype(np.float64)
    per_pair = float((weight * spread * (spread - 1)).sum()) / float(engagers.sum()) ** 2
    own = np.bincount(found[placed], weights=engagers[placed] ** 2, minlength=k).astype(np.float64)
    expected = (np.outer(mass, mass) - np.diag(own)) * per_pair
    sizes = np.bincount(found[placed], minlength=k)
    coarse, finer = _agglomerate(observed, expected, sizes, params=params)
    return _placed(coarse, found, placed), _placed(finer, found, placed)


def _placed(group: IntArray, found: IntArray, placed: npt.NDArray[np.bool_]) -> IntArray:
    """Per unit the community numbered ``group`` of its Louvain community; units tied to none join the
    largest."""
    number = np.unique(group, return_inverse=True)[1]
    out = np.full(len(found), int(np.argmax(np.bincount(number[found[placed]]))), dtype=np.int64)
    out[placed] = number[found[placed]]
    return out
