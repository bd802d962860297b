"""The deduplicated user x post graph of a window and batched greedy peeling (FRAUDAR-style)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.codes import distinct_inverse

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class _Graph:
    """The deduplicated user x post graph of a window; edges sorted by (user, post)."""

    rows: IntArray
    cols: IntArray
    n_users: int
    n_posts: int
    user_deg: FloatArray
    post_deg: FloatArray
    post_creator: IntArray
    creator_deg: FloatArray
    has_creators: bool
    user_ptr: IntArray
    post_ptr: IntArray
    post_order: IntArray


def _build_graph(events: pd.DataFrame) -> tuple[_Graph, IntArray]:
    """The deduplicated graph and, per event, its edge index (-1 without ids)."""
    user_code, _ = pd.factorize(events["user_id"], sort=True)
    post_code, _ = pd.factorize(events["post_id"], sort=True)
    n_users, n_posts = int(user_code.max(initial=-1)) + 1, int(post_code.max(initial=-1)) + 1
    valid = (user_code >= 0) & (post_code >= 0)
    edge_key, inverse, _ = distinct_inverse(user_code[valid].astype(np.int64) * n_posts + post_code[valid])
    event_edge = np.full(len(events), -1, dtype=np.int64)
    event_edge[valid] = inverse
    rows, cols = edge_key // max(n_posts, 1), edge_key % max(n_posts, 1)
    post_deg = np.bincount(cols, minlength=n_posts).astype(np.float64)
    has_creators = "creator_id" in events.columns and bool(events["creator_id"].notna().any())
    post_creator = np.zeros(n_posts, dtype=np.int64)
    if has_creators:
        # Missing creators share one code; a post filed under several keeps the first.
        creator_code, _ = pd.factorize(events["creator_id"], sort=True, use_na_sentinel=False)
        post_creator[:] = np.iinfo(np.int64).max
        np.minimum.at(post_creator, post_code[valid], creator_code[valid].astype(np.int64))
        post_creator[post_creator == np.iinfo(np.int64).max] = 0
    post_order = np.argsort(cols, kind="stable")
    graph = _Graph(
        rows=rows,
        cols=cols,
        n_users=n_users,
        n_posts=n_posts,
        user_deg=np.bincount(rows, minlength=n_users).astype(np.float64),
        post_deg=post_deg,
        post_creator=post_creator,
        creator_deg=_weighted_count(post_creator, post_deg, int(post_creator.max(initial=0)) + 1),
        has_creators=has_creators,
        user_ptr=np.searchsorted(rows, np.arange(n_users + 1)),
        post_ptr=np.searchsorted(cols[post_order], np.arange(n_posts + 1)),
        post_order=post_order,
    )
    return graph, event_edge


def _fan_factor(graph: _Graph, *, enabled: bool) -> FloatArray:
    """Per edge ``1 - s**2``, ``s`` the share of the account's edges on the post's creator."""
    if not (enabled and graph.has_creators):
        return np.ones(graph.rows.size)
    n_creators = graph.creator_deg.size
    _, inverse, count = distinct_inverse(graph.rows * n_creators + graph.post_creator[graph.cols])
    return 1.0 - (count[inverse] / graph.user_deg[graph.rows]) ** 2


def _peel(
    rows: IntArray,
    cols: IntArray,
    weights: FloatArray,
    n_rows: int,
    n_cols: int,
    *,
    eps: float,
    max_drop_share: float = 1.0,
    row_mass: FloatArray | None = None,
    col_mass: FloatArray | None = None,
    col_cost: float = 1.0,
) -> tuple[BoolArray, BoolArray, float]:
    """Batched greedy peeling (Bahmani et al.); the best set seen and its score.

    The score is ``(f(S) - N(S)) / (|A| + col_cost * |B|)``: ``f`` sums the
    live edges' weights, ``N(S) = sum_A row_mass * sum_B col_mass`` is what a
    null model expects (zero without masses, which with ``col_cost=1`` is
    FRAUDAR's density). Each round removes the nodes whose marginal per unit of
    cost is at most the average ``2 * score`` plus ``eps`` of it, but at most
    ``max_drop_share`` of the live nodes, lowest first. Every round removes a
    node and costs O(live edges + live nodes).
    """
    row_ids, rows = _compact(rows, n_rows)
    col_ids, cols = _compact(cols, n_cols)
    has_null = row_mass is not None and col_mass is not None
    r_mass = row_mass[row_ids] if row_mass is not None else np.zeros(row_ids.size)
    c_mass = col_mass[col_ids] if col_mass is not None else np.zeros(col_ids.size)
    last_row = np.full(n_rows, -1, dtype=np.int64)
    last_col = np.full(n_cols, -1, dtype=np.int64)
    best_score, best_round, round_no = -np.inf, 0, 0
    while rows.size:
        row_gain = _weighted_count(rows, weights, row_ids.size)
        col_gain = _weighted_count(cols, weights, col_ids.size)
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
            kept, rows = _compact(rows, row_ids.size)
            row_ids, r_mass = row_ids[kept], r_mass[kept]
        if 2 * int((live_cols & ~drop_cols).sum()) < col_ids.size:
            kept, cols = _compact(cols, col_ids.size)
            col_ids, c_mass = col_ids[kept], c_mass[kept]
        round_no += 1
    return last_row >= best_round, last_col >= best_round, max(best_score, 0.0)


def _weighted_count(ids: IntArray, weights: FloatArray, n_ids: int) -> FloatArray:
    """Sum of ``weights`` per id in ``range(n_ids)`` (``np.bincount`` typed as floats)."""
    return np.bincount(ids, weights=weights, minlength=n_ids).astype(np.float64, copy=False)


def _compact(ids: IntArray, n_ids: int) -> tuple[IntArray, IntArray]:
    """(the distinct ids in order, each id's rank among them)."""
    present = np.zeros(n_ids, dtype=bool)
    present[ids] = True
    return np.flatnonzero(present), (np.cumsum(present) - 1)[ids]


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


def _incident(ptr: IntArray, ids: IntArray) -> IntArray:
    """Positions ``ptr[i]:ptr[i+1]`` for every ``i`` in ``ids``, concatenated."""
    starts, lengths = ptr[ids], ptr[ids + 1] - ptr[ids]
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(int(lengths.sum()))
