"""Batched greedy peeling (FRAUDAR-style) of a weighted bipartite graph to its densest part."""

from __future__ import annotations

import numpy as np

from detectors.dense._graph import BoolArray, FloatArray, IntArray
from features.arrays import compact, weighted_counts


def _peel(
    rows: IntArray,
    cols: IntArray,
    weights: FloatArray,
    n_rows: int,
    n_cols: int,
    *,
    eps: float,
    max_drop_share: float,
    row_mass: FloatArray | None,
    col_mass: FloatArray | None,
    col_cost: float,
) -> tuple[BoolArray, BoolArray, float]:
    """Batched greedy peeling (Bahmani et al.); the best set seen and its score.

    The score is ``(f(S) - N(S)) / (|A| + col_cost * |B|)``: ``f`` sums the
    live edges' weights, ``N(S) = sum_A row_mass * sum_B col_mass`` is what a
    null model expects (zero without masses, which with ``col_cost=1`` is
    FRAUDAR's density). Each round removes the nodes whose marginal per unit of
    cost is at most the average ``2 * score`` plus ``eps`` of it, but at most ``max_drop_share``
    of the live nodes, lowest first: a node per round, O(live edges + live nodes) each.
    """
    row_ids, rows = compact(rows, n_rows)
    col_ids, cols = compact(cols, n_cols)
    has_null = row_mass is not None and col_mass is not None
    r_mass = row_mass[row_ids] if row_mass is not None else np.zeros(row_ids.size)
    c_mass = col_mass[col_ids] if col_mass is not None else np.zeros(col_ids.size)
    last_row, last_col = np.full(n_rows, -1, dtype=np.int64), np.full(n_cols, -1, dtype=np.int64)
    best_score, best_round, round_no = -np.inf, 0, 0
    while rows.size:
        row_gain = weighted_counts(rows, weights, row_ids.size)
        col_gain = weighted_counts(cols, weights, col_ids.size)
        live_rows, live_cols = row_gain > 0, col_gain > 0
        last_row[row_ids[live_rows]] = round_no
        last_col[col_ids[live_cols]] = round_no
        total = float(weights.sum())
        if has_null:
            row_sum, col_sum = float(r_mass[live_rows].sum()), float(c_mass[live_cols].sum())
            row_gain -= r_mass * col_sum
            col_gain -= c_mass * row_sum
            total -= row_sum * col_sum
        score = total / float(live_rows.sum() + col_cost * live_cols.sum())
        if score > best_score:
            best_score, best_round = score, round_no
        cap = max(1, int(max_drop_share * (live_rows.sum() + live_cols.sum())))
        drop_rows, drop_cols = _drops(
            row_gain, col_gain / col_cost, live_rows, live_cols, 2 * score + eps * abs(2 * score), cap
        )
        keep = ~(drop_rows[rows] | drop_cols[cols])
        rows, cols, weights = rows[keep], cols[keep], weights[keep]
        # Renumber the live nodes once most ids are dead, so rounds shrink with the graph.
        if 2 * int((live_rows & ~drop_rows).sum()) < row_ids.size:
            kept, rows = compact(rows, row_ids.size)
            row_ids, r_mass = row_ids[kept], r_mass[kept]
        if 2 * int((live_cols & ~drop_cols).sum()) < col_ids.size:
            kept, cols = compact(cols, col_ids.size)
            col_ids, c_mass = col_ids[kept], c_mass[kept]
        round_no += 1
    return last_row >= best_round, last_col >= best_round, max(best_score, 0.0)


def _drops(
    row_gain: FloatArray,
    col_gain: FloatArray,
    live_rows: BoolArray,
    live_cols: BoolArray,
    threshold: float,
    cap: int,
) -> tuple[BoolArray, BoolArray]:
    """Live nodes at or below the threshold, at most ``cap`` of them, lowest first."""
    drop_rows = live_rows & (row_gain <= threshold)
    drop_cols = live_cols & (col_gain <= threshold)
    if int(drop_rows.sum() + drop_cols.sum()) <= cap:
        return drop_rows, drop_cols
    cand = np.concatenate([np.flatnonzero(drop_rows), row_gain.size + np.flatnonzero(drop_cols)])
    gain = np.concatenate([row_gain[drop_rows], col_gain[drop_cols]])
    kth = np.partition(gain, cap - 1)[cap - 1]
    # Ties at the cut go in id order, so the result never depends on the platform's sort.
    below, tied = cand[gain < kth], cand[gain == kth]
    chosen = np.concatenate([below, tied[: cap - below.size]])
    drop_rows = np.zeros(row_gain.size, dtype=bool)
    drop_cols = np.zeros(col_gain.size, dtype=bool)
    drop_rows[chosen[chosen < row_gain.size]] = True
    drop_cols[chosen[chosen >= row_gain.size] - row_gain.size] = True
    return drop_rows, drop_cols
