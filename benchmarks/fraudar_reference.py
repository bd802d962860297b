"""A plain Python port of FRAUDAR's greedy peeling, kept only to compare against.

FRAUDAR (Hooi et al., KDD 2016) removes one node at a time, always the one whose
removal costs the least suspiciousness, and keeps the densest set seen. Column
weights ``1 / log(deg + 5)`` make camouflage edges to popular columns cheap.
This port was written from the paper's description (no code was copied): a
``heapq`` priority queue with lazy deletion stands in for the paper's min-tree.

``compare_speed`` times this reference and the vectorised peeling of
``detectors.dense`` on the same random graph with one injected block.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from detectors.dense import DenseBlockParams, dense_blocks, densest_block

COLUMN_WEIGHT_OFFSET = 5.0


def fraudar_reference(
    rows: Sequence[int] | npt.NDArray[np.int64],
    cols: Sequence[int] | npt.NDArray[np.int64],
    n_rows: int,
    n_cols: int,
) -> tuple[set[int], set[int], float]:
    """Return the (row set, column set, score) of FRAUDAR's greedy densest block.

    The score is ``f(S) / (|rows| + |cols|)`` where ``f`` sums the weights
    ``1 / log(col_degree + 5)`` of the edges inside the block. Duplicate edges
    count once. Ties are broken by node id (rows before columns), so the result
    is deterministic.
    """
    edges = sorted(set(zip((int(r) for r in rows), (int(c) for c in cols), strict=True)))
    row_adj: list[list[int]] = [[] for _ in range(n_rows)]
    col_adj: list[list[int]] = [[] for _ in range(n_cols)]
    for r, c in edges:
        row_adj[r].append(c)
        col_adj[c].append(r)
    weight = [1.0 / math.log(len(col_adj[c]) + COLUMN_WEIGHT_OFFSET) for c in range(n_cols)]

    # Node ids: rows are 0..n_rows-1, column c is n_rows + c.
    priority = [sum(weight[c] for c in row_adj[r]) for r in range(n_rows)]
    priority += [weight[c] * len(col_adj[c]) for c in range(n_cols)]
    alive = [True] * (n_rows + n_cols)
    heap = [(p, node) for node, p in enumerate(priority)]
    heapq.heapify(heap)

    total = sum(priority[:n_rows])
    n_alive = n_rows + n_cols
    best_score = total / n_alive if n_alive else 0.0
    best_step = 0
    order: list[int] = []
    while heap:
        p, node = heapq.heappop(heap)
        if not alive[node] or p != priority[node]:
            continue  # stale entry left behind by a priority update
        alive[node] = False
        order.append(node)
        total -= priority[node]
        n_alive -= 1
        for other, delta in _neighbours(node, n_rows, row_adj, col_adj, weight):
            if alive[other]:
                priority[other] -= delta
                heapq.heappush(heap, (priority[other], other))
        if n_alive and total / n_alive > best_score:
            best_score = total / n_alive
            best_step = len(order)

    kept = set(range(n_rows + n_cols)) - set(order[:best_step])
    row_set = {n for n in kept if n < n_rows}
    col_set = {n - n_rows for n in kept if n >= n_rows}
    return row_set, col_set, best_score


def _neighbours(
    node: int,
    n_rows: int,
    row_adj: list[list[int]],
    col_adj: list[list[int]],
    weight: list[float],
) -> list[tuple[int, float]]:
    """The live-or-dead neighbours of ``node`` with the weight of the shared edge."""
    if node < n_rows:
        return [(n_rows + c, weight[c]) for c in row_adj[node]]
    c = node - n_rows
    return [(r, weight[c]) for r in col_adj[c]]


def random_graph_with_block(
    n_edges: int,
    seed: int,
    *,
    block_rows: int = 200,
    block_cols: int = 20,
    block_density: float = 0.6,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int, int, npt.NDArray[np.int64]]:
    """Return (rows, cols, n_rows, n_cols, block_row_ids) of a skewed random graph.

    The background has about three distinct edges per row and sixty per column,
    with heavy-tailed row activity and column popularity (lognormal/Zipf-like),
    which is what engagement graphs look like. The injected block uses the first
    ``block_rows`` rows and ``block_cols`` random columns.
    """
    rng = np.random.default_rng(seed)
    n_rows = max(block_rows * 2, n_edges // 3)
    n_cols = max(block_cols * 2, n_edges // 60)
    row_p = rng.lognormal(0.0, 1.0, n_rows)
    col_p = 1.0 / np.arange(1, n_cols + 1) ** 0.9
    rows = rng.choice(n_rows, size=n_edges, p=row_p / row_p.sum())
    cols = rng.permutation(n_cols)[rng.choice(n_cols, size=n_edges, p=col_p / col_p.sum())]
    block_cols_ids = rng.choice(n_cols, size=block_cols, replace=False)
    br, bc = np.nonzero(rng.random((block_rows, block_cols)) < block_density)
    rows = np.concatenate([rows, br]).astype(np.int64)
    cols = np.concatenate([cols, block_cols_ids[bc]]).astype(np.int64)
    key = np.unique(rows * n_cols + cols)
    return key // n_cols, key % n_cols, n_rows, n_cols, np.arange(block_rows, dtype=np.int64)


def compare_speed(n_edges: int, seed: int) -> dict[str, float | int]:
    """Time the reference and the vectorised peeling on one graph; return the ratio.

    Both search for the single densest block with the same weights, from the
    same edge arrays. The result holds the graph size, both times in seconds,
    ``speed_ratio`` (reference time over vectorised time), the Jaccard
    similarity of the two row sets and each one's recall of the injected rows;
    the same for one-shot Bahmani peeling (``max_drop_share=1``, fastest and
    coarsest); and the time and recall of the full ``dense_blocks`` detector
    (several blocks, settling, significance tests; no creators in this graph).
    """
    rows, cols, n_rows, n_cols, planted = random_graph_with_block(n_edges, seed)
    t0 = time.perf_counter()
    ref_rows, _, _ = fraudar_reference(rows, cols, n_rows, n_cols)
    t1 = time.perf_counter()
    vec_rows = _row_set(
        densest_block(
            _adjacency(rows, cols, n_rows, n_cols), weight_offset=5.0, eps=0.05, max_drop_share=0.05
        )[0]
    )
    t2 = time.perf_counter()
    fast_rows = _row_set(
        densest_block(
            _adjacency(rows, cols, n_rows, n_cols), weight_offset=5.0, eps=0.05, max_drop_share=1.0
        )[0]
    )
    t3 = time.perf_counter()
    events = pd.DataFrame({"user_id": rows.astype(str), "post_id": cols.astype(str)})
    t4 = time.perf_counter()
    detection = dense_blocks(events, params=DenseBlockParams())
    t5 = time.perf_counter()
    flagged = set(events["user_id"].to_numpy()[detection.event_group >= 0].astype(np.int64).tolist())
    planted_set = set(planted.tolist())
    return {
        "n_edges": int(rows.size),
        "n_rows": n_rows,
        "n_cols": n_cols,
        "reference_s": t1 - t0,
        "vectorised_s": t2 - t1,
        "speed_ratio": (t1 - t0) / max(t2 - t1, 1e-9),
        "row_jaccard": _jaccard(ref_rows, vec_rows),
        "reference_recall": len(ref_rows & planted_set) / len(planted_set),
        "vectorised_recall": len(vec_rows & planted_set) / len(planted_set),
        "bahmani_s": t3 - t2,
        "bahmani_speed_ratio": (t1 - t0) / max(t3 - t2, 1e-9),
        "bahmani_row_jaccard": _jaccard(ref_rows, fast_rows),
        "dense_blocks_s": t5 - t4,
        "dense_blocks_recall": len(flagged & planted_set) / len(planted_set),
        "dense_blocks_extra_rows": len(flagged - planted_set),
    }


def _adjacency(
    rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], n_rows: int, n_cols: int
) -> sparse.csr_matrix:
    return sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_rows, n_cols))


def _row_set(mask: npt.NDArray[np.bool_]) -> set[int]:
    return set(np.flatnonzero(mask).tolist())


def _jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0
