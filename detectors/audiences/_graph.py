"""The unit graph: creator units tied by the light accounts they share beyond a configuration model,
and its Louvain communities (the expensive step of the audience finder)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from detectors.audiences._arrays import FloatArray, IntArray
from detectors.audiences._louvain import _louvain, _strongest
from detectors.audiences._params import AudienceParams
from features.arrays import distinct


@dataclass(frozen=True)
class UnitGraph:
    """Creator units tied by the light accounts they share: every pair that shares one (``a`` < ``b``),
    its shared accounts and their excess over a configuration model."""

    a: IntArray
    b: IntArray
    shared: FloatArray
    excess: FloatArray
    engagers: FloatArray  # per unit: its light engagers (weighted)
    per_pair: float  # chance's shared accounts per unit pair, per product of engagers
    n_units: int

    @property
    def tied(self) -> npt.NDArray[np.bool_]:
        """Per pair: it shares accounts beyond chance."""
        return np.asarray(self.excess > 0, dtype=bool)

    @property
    def placed(self) -> npt.NDArray[np.bool_]:
        """Per unit: tied to another (the others join the largest audience at the end)."""
        out = np.zeros(self.n_units, dtype=bool)
        out[self.a[self.tied]], out[self.b[self.tied]] = True, True
        return out


def unit_graph(
    user: IntArray, unit: IntArray, n_units: int, account_weight: FloatArray | None = None
) -> UnitGraph:
    """The unit graph of light (account, unit) pairs, each account counted ``account_weight`` times."""
    pairs = distinct(user * n_units + unit)
    accounts, rows = np.unique(pairs // n_units, return_inverse=True)
    x = sparse.csr_matrix((np.ones(len(pairs)), (rows, pairs % n_units)), shape=(len(accounts), n_units))
    weight = np.ones(len(accounts)) if account_weight is None else account_weight[accounts]
    shared = sparse.triu(x.T @ sparse.diags(weight) @ x, k=1).tocoo()
    a, b = shared.row.astype(np.int64), shared.col.astype(np.int64)
    engagers, spread = x.T @ weight, np.asarray(x.sum(axis=1)).ravel()
    co = float((weight * spread * (spread - 1)).sum())
    excess = shared.data - co * engagers[a] * engagers[b] / float(engagers.sum()) ** 2
    per_pair = co / float(engagers.sum()) ** 2
    return UnitGraph(a, b, shared.data, excess, engagers, per_pair, n_units)


def louvain_found(graph: UnitGraph, params: AudienceParams) -> IntArray:
    """Per unit its Louvain community on each unit's ``neighbours`` strongest ties; -1: tied to none."""
    tied = graph.tied
    a, b, excess = graph.a[tied], graph.b[tied], graph.excess[tied]
    strongest = _strongest(a, b, excess, params.neighbours)
    nodes = np.flatnonzero(graph.placed)
    return _louvain(a[strongest], b[strongest], excess[strongest], nodes, graph.n_units, params)
