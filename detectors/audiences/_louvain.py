"""Louvain communities of the unit graph, each connected part on its own, on each unit's strongest ties."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse import csgraph

from detectors.audiences._arrays import FloatArray, IntArray
from detectors.audiences._params import AudienceParams
from features.arrays import distinct, stable_order

if TYPE_CHECKING:
    import networkx as nx


def _strongest(a: IntArray, b: IntArray, weight: FloatArray, k: int) -> npt.NDArray[np.bool_]:
    """Per edge: it is among the ``k`` heaviest of either end (finite weights)."""
    end = np.r_[a, b]
    edge = np.r_[np.arange(len(a)), np.arange(len(a))]
    # by end, heaviest first, ties in edge order (``end``'s): one stable sort of the end and the weight's
    # rank from the heaviest (equal weights, equal ranks), cheaper than a stable sort of twice the weights
    values, lighter = np.unique(weight, return_inverse=True)
    heavier = len(values) - 1 - np.asarray(lighter, dtype=np.int64).ravel()
    order = stable_order(end.astype(np.int64) * max(len(values), 1) + np.r_[heavier, heavier])
    ends = end[order]
    position = np.arange(len(ends))
    starts = np.r_[True, ends[1:] != ends[:-1]] if len(ends) else np.zeros(0, dtype=bool)
    rank = position - np.maximum.accumulate(np.where(starts, position, 0))
    keep = np.zeros(len(a), dtype=bool)
    keep[edge[order][rank < k]] = True
    return keep


def _louvain(
    a: IntArray,
    b: IntArray,
    weight: FloatArray,
    nodes: IntArray,
    n: int,
    params: AudienceParams,
    start: IntArray | None = None,
) -> IntArray:
    """Per node its Louvain community, numbered by smallest member; -1 for nodes not in ``nodes``.

    ``start``: per node a group it starts in (-1: alone), e.g. the history's own communities
    (``seeded_start``): the search runs on the graph of the groups (ties between two groups summed,
    ties inside one a self-loop, as Louvain's own later levels build it) and never splits a group.
    """
    if start is not None and (start[nodes] >= 0).any():
        group, (ga, gb, gw), members = _grouped(a, b, weight, nodes, start)
        of_group = _louvain(ga, gb, gw, members, len(members), params)
        grown = np.full(n, -1, dtype=np.int64)
        grown[nodes] = of_group[group[nodes]]
        # numbered by smallest member node, as without a start
        return _by_smallest(grown)
    import networkx as nx  # lazy: networkx costs import time

    # each connected part on its own: modularity over audiences that never meet merges a small
    # audience of one part with its neighbours (the resolution limit grows with the whole graph)
    found = [
        members
        for part in _parts(a, b, weight, nodes, n)
        for members in nx.community.louvain_communities(part, weight="weight", seed=params.louvain_seed)
    ]
    out = np.full(n, -1, dtype=np.int64)
    for number, members in enumerate(sorted(found, key=min)):
        out[np.fromiter(members, dtype=np.int64)] = number
    return out


def _grouped(
    a: IntArray, b: IntArray, weight: FloatArray, nodes: IntArray, start: IntArray
) -> tuple[IntArray, tuple[IntArray, IntArray, FloatArray], IntArray]:
    """Per node its group (``start``'s, or one of its own), the groups' graph (edges summed per pair of
    groups, in order of each pair's first edge) and the groups' numbers."""
    own = np.where(start >= 0, start, -1)
    key = np.where(own >= 0, own, int(own.max(initial=-1)) + 1 + np.arange(len(own)))
    # groups numbered by their smallest node: the search visits them in the nodes' order
    present = np.zeros(len(own), dtype=bool)
    present[nodes] = True
    first = np.full(int(key.max(initial=-1)) + 1, len(own), dtype=np.int64)
    np.minimum.at(first, key[nodes], nodes)
    used = np.flatnonzero(first < len(own))
    used = used[np.argsort(first[used], kind="stable")]
    number = np.full(len(first), -1, dtype=np.int64)
    number[used] = np.arange(len(used))
    group = np.where(present, number[key], -1)
    ga, gb = np.minimum(group[a], group[b]), np.maximum(group[a], group[b])
    pair, first_edge, inverse = np.unique(ga * len(used) + gb, return_index=True, return_inverse=True)
    summed = np.bincount(np.asarray(inverse).ravel(), weights=weight, minlength=len(pair)).astype(np.float64)
    order = np.argsort(first_edge, kind="stable")
    pairs = np.asarray(pair[order], dtype=np.int64)
    edges = (pairs // len(used), pairs % len(used), summed[order])
    return group, edges, np.arange(len(used), dtype=np.int64)


def _by_smallest(found: IntArray) -> IntArray:
    """``found`` (per node a community, -1: none) renumbered by each community's smallest node."""
    out = np.full(len(found), -1, dtype=np.int64)
    has = np.flatnonzero(found >= 0)
    if not len(has):
        return out
    _, first = np.unique(found[has], return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(has[first], kind="stable")] = np.arange(len(first))
    out[has] = rank[np.unique(found[has], return_inverse=True)[1]]
    return out


def _parts(a: IntArray, b: IntArray, weight: FloatArray, nodes: IntArray, n: int) -> Iterator[nx.Graph]:
    """The connected parts of the graph of ``nodes`` (ascending) and edges ``a``-``b``, each its own graph.

    Each part holds its nodes in ``nodes``' order and its edges in the given order, so its nodes and
    every node's neighbours iterate as in a subgraph view of the whole graph, which Louvain's visiting
    order (and so its communities) follows; a graph of its own is not filtered on every step.
    """
    import networkx as nx

    graph = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    label = np.asarray(csgraph.connected_components(graph, directed=False)[1], dtype=np.int64)
    node_order = nodes[np.argsort(label[nodes], kind="stable")]
    edge_order = np.argsort(label[a], kind="stable")
    present = distinct(label[nodes])
    ends = np.r_[present, n]
    node_bounds = np.asarray(np.searchsorted(label[node_order], ends), dtype=np.int64)
    edge_bounds = np.asarray(np.searchsorted(label[a][edge_order], ends), dtype=np.int64)
    for k in range(len(present)):
        part = nx.Graph()
        part.add_nodes_from(node_order[node_bounds[k] : node_bounds[k + 1]].tolist())
        edges = edge_order[edge_bounds[k] : edge_bounds[k + 1]]
        part.add_weighted_edges_from(
            zip(a[edges].tolist(), b[edges].tolist(), weight[edges].tolist(), strict=True)
        )
        yield part
