"""The dense-block detector: the peel, settle and test loop, and the blocks table it reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from detectors.audiences import Audiences
from detectors.base import Detection
from detectors.dense._graph import BoolArray, FloatArray, IntArray, _build_graph, _fan_factor, _Graph
from detectors.dense._membership import _settle
from detectors.dense._params import DenseBlockParams
from detectors.dense._peel import _peel
from detectors.dense._significance import _Block, _is_significant
from features.arrays import distinct

NAME = "dense_block"
COLUMNS = [
    "group_id",
    "n_accounts",
    "n_posts",
    "n_edges",
    "n_creators",
    "density",
    "lift",
    "p_value",
    "log10_p_value",
    "evidence",
]


def dense_blocks(
    events: pd.DataFrame, *, params: DenseBlockParams, audiences: Audiences | None = None
) -> Detection:
    """Return the significant dense user x post blocks of a window of events.

    Parameters
    ----------
    events:
        One row per engagement with columns ``user_id`` and ``post_id``, and
        ``creator_id`` when known. Events on one (user, post) pair form one
        edge; rows with a missing user or post score 0.
    audiences:
        The platform's audience communities and creator units
        (``detectors.audiences``): a studio's creators count as one creator,
        and chance is counted within each audience community. Without them the
        platform is one audience of its creators.
    params:
        The thresholds (:class:`DenseBlockParams`). The lift's null is Chung-Lu
        (``deg_u * deg_p / |E|`` edges per pair) plus, when creators are known, a
        fan allowance: each account may be a fan of one block creator and engage
        that creator's posts in proportion to their popularity. A fan club of one
        creator has a lift near 1; a farm spread evenly over k creators' campaign
        posts about k. The p-value is the Poisson tail of the edge count under
        Chung-Lu, Bonferroni-corrected over every block of the same shape in the
        window (a block picked for its density from noise is not significant).
        Peeling rounds remove the nodes whose marginal is at most ``1 + eps``
        times the average, but at most ``max_drop_share`` of the live nodes,
        lowest first; smaller values are closer to FRAUDAR's one-node greedy.

    Returns
    -------
    Detection named ``dense_block``: per event a score in [0, 1] (0 outside
    blocks) and the block id; ``groups`` has one row per block (``COLUMNS``).
    """
    missing = {"user_id", "post_id"} - set(events.columns)
    if missing:
        raise ValueError(f"{NAME}: events lack column(s) {sorted(missing)}")
    graph, event_edge = _build_graph(events, audiences)
    if graph.rows.size == 0:
        return _empty(len(events))
    post_weight = 1.0 / np.log(graph.post_deg + params.weight_offset)
    # Chung-Lu expects deg_u * deg_p / |E| edges per pair, each weighing w_p.
    row_mass = graph.user_deg * (params.null_penalty / graph.rows.size)
    col_mass = post_weight * graph.post_deg
    weights = post_weight[graph.cols] * _fan_factor(graph, enabled=params.fan_discount)
    blocks = _search(graph, weights, row_mass, col_mass, params)
    return _detection(graph, event_edge, blocks) if blocks else _empty(len(events))


def densest_block(
    adjacency: sparse.spmatrix | sparse.sparray,
    *,
    weight_offset: float,
    eps: float,
    max_drop_share: float,
) -> tuple[BoolArray, BoolArray, float]:
    """Return (row mask, column mask, density) of a 0/1 matrix's densest block.

    The density is FRAUDAR's ``f(S) / (|rows| + |cols|)`` with column weights
    ``1 / log(col_degree + weight_offset)``, found by batched peeling.
    """
    matrix = sparse.csr_matrix(adjacency, copy=True)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    n_rows, n_cols = matrix.shape
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(matrix.indptr))
    cols = matrix.indices.astype(np.int64)
    col_deg = np.bincount(cols, minlength=n_cols).astype(np.float64)
    weights = 1.0 / np.log(col_deg[cols] + weight_offset)
    return _peel(
        rows,
        cols,
        weights,
        n_rows,
        n_cols,
        eps=eps,
        max_drop_share=max_drop_share,
        row_mass=None,
        col_mass=None,
        col_cost=1.0,
    )


def _search(
    graph: _Graph, weights: FloatArray, row_mass: FloatArray, col_mass: FloatArray, params: DenseBlockParams
) -> list[_Block]:
    """Peel, settle and test until enough blocks or enough fruitless rounds."""
    active = np.ones(graph.rows.size, dtype=bool)
    blocks: list[_Block] = []
    fruitless = 0
    while len(blocks) < params.max_blocks and fruitless < params.max_rounds_without_block:
        idx = np.flatnonzero(active & (weights > 0))
        if idx.size == 0:
            break
        seed_users, seed_posts, _ = _peel(
            graph.rows[idx],
            graph.cols[idx],
            weights[idx],
            graph.n_users,
            graph.n_posts,
            eps=params.eps,
            max_drop_share=params.max_drop_share,
            row_mass=row_mass,
            col_mass=col_mass,
            col_cost=params.post_cost,
        )
        seed_edges = idx[seed_users[graph.rows[idx]] & seed_posts[graph.cols[idx]]]
        fruitless += 1
        # Examined pieces that fail leave the search. A found block's leftovers stay
        # (they may hold the core of a second farm peeled together with the first),
        # and so do pieces not examined in this round.
        keep = np.zeros(graph.n_users, dtype=bool)
        for i, (piece_users, piece_posts) in enumerate(_pieces(graph, seed_edges)):
            if i >= params.max_pieces_per_round or len(blocks) >= params.max_blocks:
                keep[piece_users] = True
                continue
            block = _settle(graph, active, piece_users, piece_posts, params)
            if block is not None and _is_significant(block, params):
                blocks.append(block)
                active[block.edges] = False
                keep[piece_users] = True
                fruitless = 0
        active[seed_edges[~keep[graph.rows[seed_edges]]]] = False
    return blocks


def _pieces(graph: _Graph, edges: IntArray) -> list[tuple[IntArray, IntArray]]:
    """Connected pieces (users, posts) of a peeled set with two users and two posts, largest first."""
    rows, cols = graph.rows[edges], graph.cols[edges]
    n_nodes = graph.n_users + graph.n_posts
    link = sparse.coo_matrix((np.ones(rows.size), (rows, graph.n_users + cols)), (n_nodes, n_nodes))
    label = csgraph.connected_components(link, directed=False)[1][rows]
    order = np.argsort(label, kind="stable")
    bounds = np.flatnonzero(np.diff(label[order])) + 1
    pieces = [
        (distinct(r), distinct(c))
        for r, c in zip(np.split(rows[order], bounds), np.split(cols[order], bounds), strict=True)
    ]
    pieces = [(users, posts) for users, posts in pieces if users.size >= 2 and posts.size >= 2]
    # Largest first; the stable sort keeps label order among equals.
    sizes = np.array([users.size + posts.size for users, posts in pieces], dtype=np.int64)
    return [pieces[i] for i in np.argsort(-sizes, kind="stable")]


def _detection(graph: _Graph, event_edge: IntArray, blocks: list[_Block]) -> Detection:
    """Per-event scores and groups from the significant blocks."""
    edge_group = np.full(graph.rows.size, -1, dtype=np.int64)
    edge_score = np.zeros(graph.rows.size, dtype=np.float64)
    for group_id, block in enumerate(blocks):
        block_rows = graph.rows[block.edges]
        coverage = np.bincount(block_rows, minlength=graph.n_users)[block_rows] / block.posts.size
        edge_group[block.edges] = group_id
        # The block passed the significance test, so a member edge starts at even odds;
        # above that, the block's strength (0 at lift 1, towards 1 as the lift grows)
        # times the account's own coverage of it: a farm's busiest accounts score highest.
        strength = (1.0 - 1.0 / block.lift) * np.sqrt(coverage)
        edge_score[block.edges] = np.clip(0.5 + 0.5 * strength, 0.0, 1.0)
    has_edge = event_edge >= 0
    groups = pd.DataFrame.from_records(
        [_group_record(group_id, block) for group_id, block in enumerate(blocks)]
    )
    groups["evidence"] = groups["evidence"].astype("string")
    return Detection(
        name=NAME,
        event_score=np.where(has_edge, edge_score[event_edge], 0.0),
        event_group=np.where(has_edge, edge_group[event_edge], -1).astype(np.int64),
        groups=groups,
    )


def _group_record(group_id: int, block: _Block) -> dict[str, object]:
    """One row of the groups frame, with the reviewer's sentence."""
    n_accounts, n_posts, n_edges = block.users.size, block.posts.size, block.edges.size
    density = n_edges / (n_accounts * n_posts)
    creators = f" of {block.n_creators} creators" if block.n_creators else ""
    evidence = (
        f"{NAME}: {n_accounts} accounts engaged {n_posts} posts{creators} "
        f"(coverage {density:.0%}, {block.lift:.1f}x the expected, p < 1e{np.ceil(block.log10_p):.0f})"
    )
    return {
        "group_id": group_id,
        "n_accounts": n_accounts,
        "n_posts": n_posts,
        "n_edges": n_edges,
        "n_creators": block.n_creators,
        "density": density,
        "lift": block.lift,
        "p_value": 10.0**block.log10_p,
        "log10_p_value": block.log10_p,
        "evidence": evidence,
    }


def _empty(n_events: int) -> Detection:
    """A detection with no blocks whose groups frame has every block column."""
    empty = Detection.empty(NAME, n_events)
    extra = {
        "n_edges": "int64",
        "n_creators": "int64",
        "density": "float64",
        "lift": "float64",
        "p_value": "float64",
        "log10_p_value": "float64",
    }
    groups = empty.groups.assign(**{k: pd.Series(dtype=v) for k, v in extra.items()})
    return Detection(NAME, empty.event_score, empty.event_group, groups[COLUMNS])
