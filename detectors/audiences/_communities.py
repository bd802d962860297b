"""Audience communities of creator units: the unit graph beyond a configuration model, its Louvain
communities (or those kept from the history, ``_kept``), agglomerated by insularity."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.audiences._agglomerate import _agglomerate, _pair_sums
from detectors.audiences._arrays import FloatArray, IntArray
from detectors.audiences._graph import UnitGraph, louvain_found, unit_graph
from detectors.audiences._kept import placed_found
from detectors.audiences._params import AudienceParams


def _communities(
    user: IntArray,
    unit: IntArray,
    n_units: int,
    *,
    params: AudienceParams,
    account_weight: FloatArray | None = None,
    kept: IntArray | None = None,
) -> tuple[IntArray, IntArray]:
    """Per creator unit: its audience community, inferred from the light accounts units share, at
    ``min_insularity`` and at ``pool_min_insularity`` (the pool test's).

    Louvain communities of the unit graph, each unit tied to its ``neighbours``
    strongest neighbours by the accounts they share beyond a configuration
    model (or, with ``kept``, the Louvain communities kept from the history with
    the units it did not place placed: ``detectors.audiences._kept.placed_found``),
    then agglomerated on these pairs' counts (``agglomerated``).
    """
    graph = unit_graph(user, unit, n_units, account_weight)
    found = louvain_found(graph, params) if kept is None else placed_found(graph, kept, params)
    return agglomerated(graph, found, params)


def agglomerated(graph: UnitGraph, found: IntArray, params: AudienceParams) -> tuple[IntArray, IntArray]:
    """Per unit its community at ``min_insularity`` and at ``pool_min_insularity``: the ``found``
    communities (per unit, -1: tied to none; numbered from 0) agglomerated by insularity.

    A community of fewer than ``min_community_creators`` units joins the large
    community it shares most with; then, least insular first, a community whose
    co-engagement beyond chance stays inside less than ``min_insularity`` of the
    time joins the one it shares most with. Units tied to none join the largest.
    """
    k = int(found.max(initial=-1)) + 1
    n_units = graph.n_units
    if k < 2:
        return np.zeros(n_units, dtype=np.int64), np.zeros(n_units, dtype=np.int64)
    placed = found >= 0
    a, b, engagers = graph.a, graph.b, graph.engagers
    # every shared account counts, not only ties beyond chance: a seller's book, tied inside by its
    # pool, shares its creators' organic fans with the rest as chance says and is no audience
    both = placed[a] & placed[b]
    observed = _pair_sums(found[a[both]], found[b[both]], graph.shared[both], k)
    # chance over every pair of placed units, those that share no account included
    mass = np.bincount(found[placed], weights=engagers[placed], minlength=k).astype(np.float64)
    own = np.bincount(found[placed], weights=engagers[placed] ** 2, minlength=k).astype(np.float64)
    expected = (np.outer(mass, mass) - np.diag(own)) * graph.per_pair
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
