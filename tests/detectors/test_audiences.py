"""Audience communities (``detectors.audiences``): Louvain on each connected part, on planted graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np

from detectors.audiences import AudienceParams
from detectors.audiences._louvain import _louvain, _strongest

# three parts that never meet (nodes 0-29, 40-69, 80-85); nodes 30-39, 70-79 and 86-89 have no edge
PARTS = ((0, 30, 60), (40, 30, 60), (80, 6, 5))
N_NODES = 90


def _planted_graph(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sparse random parts with equal weights, edges in a shuffled order: Louvain's visiting order
    (nodes, then each node's neighbours) decides between the many ties."""
    rng = np.random.default_rng(seed)
    edges: set[tuple[int, int]] = set()
    for base, size, n_edges in PARTS:
        for _ in range(n_edges):
            a, b = sorted(int(x) for x in rng.integers(base, base + size, 2))
            if a != b:
                edges.add((a, b))
    shuffled = [sorted(edges)[i] for i in rng.permutation(len(edges))]
    a, b = (np.asarray([edge[k] for edge in shuffled], dtype=np.int64) for k in range(2))
    return a, b, np.ones(len(a)), np.unique(np.r_[a, b]).astype(np.int64)


def _louvain_on_views(a: np.ndarray, b: np.ndarray, weight: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Louvain on each connected part as a subgraph view of the whole graph, numbered by smallest member."""
    graph = nx.Graph()
    graph.add_nodes_from(nodes.tolist())
    graph.add_weighted_edges_from(zip(a.tolist(), b.tolist(), weight.tolist(), strict=True))
    found = [
        members
        for part in nx.connected_components(graph)
        for members in nx.community.louvain_communities(
            graph.subgraph(part), weight="weight", seed=AudienceParams().louvain_seed
        )
    ]
    out = np.full(N_NODES, -1, dtype=np.int64)
    for number, members in enumerate(sorted(found, key=min)):
        out[np.fromiter(members, dtype=np.int64)] = number
    return out


def test_each_part_as_a_graph_of_its_own_finds_what_a_view_of_the_whole_finds():
    reordered = 0
    for seed in range(12):
        a, b, weight, nodes = _planted_graph(seed)
        found = _louvain(a, b, weight, nodes, N_NODES, AudienceParams())
        np.testing.assert_array_equal(found, _louvain_on_views(a, b, weight, nodes))
        in_graph = np.isin(np.arange(N_NODES), nodes)
        assert (found[~in_graph] == -1).all() and (found[in_graph] >= 0).all()
        # communities never span two parts
        parts = [set(found[base : base + size]) - {-1} for base, size, _ in PARTS]
        assert all(parts[i].isdisjoint(parts[j]) for i in range(3) for j in range(i + 1, 3))
        by_pair = np.lexsort((b, a))
        sorted_edges = _louvain_on_views(a[by_pair], b[by_pair], weight[by_pair], nodes)
        reordered += not np.array_equal(sorted_edges, found)
    # the order is what the equality pins down: the same edges sorted change the communities
    assert reordered >= 3  # measured 9 of 12


def _strongest_by_hand(a: np.ndarray, b: np.ndarray, weight: np.ndarray, k: int) -> np.ndarray:
    """Per edge: among the ``k`` heaviest edges of either end; ties at an end taken as the edges with
    it as first end come, in edge order, then those with it as second end."""
    keep = np.zeros(len(a), dtype=bool)
    for node in np.unique(np.r_[a, b]):
        edges = [i for i in range(len(a)) if a[i] == node] + [i for i in range(len(b)) if b[i] == node]
        keep[sorted(edges, key=lambda i: -weight[i])[:k]] = True
    return keep


def test_strongest_keeps_each_ends_heaviest_edges():
    rng = np.random.default_rng(0)
    for seed in range(40):
        n_edges = int(rng.integers(0, 120))
        a, b = rng.integers(0, 15, n_edges), rng.integers(0, 15, n_edges)
        # few distinct weights: many ties at the k-th place
        weight = rng.integers(1, 4, n_edges).astype(np.float64) if seed % 2 else rng.random(n_edges)
        k = int(rng.integers(1, 6))
        np.testing.assert_array_equal(_strongest(a, b, weight, k), _strongest_by_hand(a, b, weight, k))


def _two_cliques() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nodes 0-9 and 10-19 each a clique of weight 1, tied by one edge of weight 0.1."""
    pairs = [(i, j) for base in (0, 10) for i in range(base, base + 10) for j in range(i + 1, base + 10)]
    a = np.asarray([p[0] for p in pairs] + [9], dtype=np.int64)
    b = np.asarray([p[1] for p in pairs] + [10], dtype=np.int64)
    weight = np.r_[np.ones(len(pairs)), 0.1]
    return a, b, weight, np.arange(20, dtype=np.int64)


def test_a_start_keeps_each_group_together_and_a_search_from_its_own_communities_finds_them_again():
    a, b, weight, nodes = _two_cliques()
    n = 24  # nodes 20-23 have no edge
    params = AudienceParams()
    alone = _louvain(a, b, weight, nodes, n, params)
    assert alone[0] != alone[10] and len(set(alone[:10])) == 1 and len(set(alone[10:20])) == 1
    # a start that joins half of each clique (the history's own communities, say): never split, so
    # the rest of each clique follows its half into one community
    start = np.full(n, -1, dtype=np.int64)
    start[[0, 1, 2, 3, 4, 10, 11, 12, 13, 14]] = 7
    found = _louvain(a, b, weight, nodes, n, params, start)
    assert len(set(found[[0, 1, 2, 3, 4, 10, 11, 12, 13, 14]])) == 1
    assert (found[20:] == -1).all() and (found[:20] >= 0).all()
    # numbered by smallest member, as without a start
    assert found[0] == 0
    # started from its own communities, the search finds them again; a start naming only nodes
    # outside ``nodes`` is no start
    np.testing.assert_array_equal(_louvain(a, b, weight, nodes, n, params, alone), alone)
    outside = np.full(n, -1, dtype=np.int64)
    outside[20:] = 3
    np.testing.assert_array_equal(_louvain(a, b, weight, nodes, n, params, outside), alone)
