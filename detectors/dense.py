"""Dense user x post blocks: batched FRAUDAR-style peeling tested against a degree null model.

Bot farms and pools of aged accounts make many accounts engage the same posts
of several creators, so the user x post graph of a window holds a block far
denser than the accounts' and posts' degrees explain. ``dense_blocks`` peels
the weighted graph to its densest part, settles each connected piece of it
into a block by membership rules, tests the block against a null model,
records it if significant, removes the edges it examined and peels again.

Farms work for many campaigns at once, so the window should span campaigns (a
platform's settlement period): inside one campaign a farm touches too few posts
and creators to stand out from fans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse, special, stats
from scipy.sparse import csgraph

from detectors.base import Detection

NAME = "dense_block"
# Block members must hold this many times their own Chung-Lu share of the block's
# edges: heavy honest users and viral posts that touch a farm hold about one.
MEMBER_LIFT = 3.0
# Connected pieces of one peeled set that are settled and tested, largest first.
MAX_PIECES_PER_ROUND = 50
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


@dataclass(frozen=True)
class _Options:
    """The thresholds of one ``dense_blocks`` call."""

    max_blocks: int
    min_accounts: int
    min_posts: int
    min_lift: float
    log10_alpha: float
    account_share: float
    post_share: float
    max_rounds_without_block: int
    eps: float
    max_drop_share: float
    post_cost: float


@dataclass(frozen=True)
class _Block:
    """A tested block: its members, the edges it covers and its statistics."""

    users: IntArray
    posts: IntArray
    edges: IntArray
    n_creators: int
    lift: float
    log10_p: float


def dense_blocks(
    events: pd.DataFrame,
    *,
    max_blocks: int = 20,
    min_accounts: int = 10,
    min_posts: int = 3,
    min_lift: float = 2.5,
    max_p_value: float = 0.01,
    min_account_share: float = 0.3,
    min_post_share: float = 0.3,
    max_rounds_without_block: int = 3,
    weight_offset: float = 5.0,
    fan_discount: bool = True,
    null_penalty: float = 1.0,
    post_cost: float = 3.0,
    eps: float = 0.05,
    max_drop_share: float = 0.1,
) -> Detection:
    """Return the significant dense user x post blocks of a window of events.

    Parameters
    ----------
    events:
        One row per engagement with columns ``user_id`` and ``post_id``, and
        ``creator_id`` when known. Events on one (user, post) pair form one
        edge; rows with a missing user or post score 0.
    max_blocks, min_accounts, min_posts:
        Most blocks reported; smallest block reported.
    min_lift:
        Least ratio of the block's edges to the null model's expectation. The
        null is Chung-Lu (``deg_u * deg_p / |E|`` edges per pair) plus, when
        creators are known, a fan allowance: each account may be a fan of one
        block creator and engage that creator's posts in proportion to their
        popularity. A fan club of one creator has a lift near 1; a farm spread
        evenly over k creators' campaign posts about k.
    max_p_value:
        Level of the test of the edge count: Poisson tail under Chung-Lu,
        Bonferroni-corrected over every block of the same shape in the window
        (a block picked for its density from noise is not significant).
    min_account_share, min_post_share:
        Block accounts engage at least this share of the block's posts (and two,
        of two creators when creators are known); block posts are engaged by at
        least this share of the block's accounts.
    max_rounds_without_block:
        Stop after this many peeling rounds in a row found nothing significant.
    weight_offset:
        ``c`` in FRAUDAR's edge weight ``1 / log(post_degree + c)``.
    fan_discount:
        Multiply an edge's weight by ``1 - s**2``, ``s`` the share of the
        account's edges on the post's creator, so that fans of one creator do
        not crowd farms spread over several out of the peeling.
    null_penalty:
        Peel on ``f(S) - null_penalty * E[f(S)]`` (Chung-Lu); 0 peels on FRAUDAR's ``f``.
    post_cost:
        A post counts this many times in the size ``|accounts| + post_cost *
        |posts|`` that divides the peeling score; 1 is FRAUDAR's ``|S|``.
    eps, max_drop_share:
        Each peeling round removes the nodes whose marginal is at most ``1 + eps``
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
    graph, event_edge = _build_graph(events)
    if graph.rows.size == 0:
        return _empty(len(events))
    post_weight = 1.0 / np.log(graph.post_deg + weight_offset)
    # Chung-Lu expects deg_u * deg_p / |E| edges per pair, each weighing w_p.
    row_mass = graph.user_deg * (null_penalty / graph.rows.size)
    col_mass = post_weight * graph.post_deg
    options = _Options(
        max_blocks=max_blocks,
        min_accounts=min_accounts,
        min_posts=min_posts,
        min_lift=min_lift,
        log10_alpha=float(np.log10(max_p_value)),
        account_share=min_account_share,
        post_share=min_post_share,
        max_rounds_without_block=max_rounds_without_block,
        eps=eps,
        max_drop_share=max_drop_share,
        post_cost=post_cost,
    )
    weights = post_weight[graph.cols] * _fan_factor(graph, enabled=fan_discount)
    blocks = _search(graph, weights, row_mass, col_mass, options)
    return _detection(graph, event_edge, blocks) if blocks else _empty(len(events))


def densest_block(
    adjacency: sparse.spmatrix | sparse.sparray,
    *,
    weight_offset: float = 5.0,
    eps: float = 0.05,
    max_drop_share: float = 0.05,
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
    return _peel(rows, cols, weights, n_rows, n_cols, eps=eps, max_drop_share=max_drop_share)


def _build_graph(events: pd.DataFrame) -> tuple[_Graph, IntArray]:
    """The deduplicated graph and, per event, its edge index (-1 without ids)."""
    user_code, _ = pd.factorize(events["user_id"], sort=True)
    post_code, _ = pd.factorize(events["post_id"], sort=True)
    n_users, n_posts = int(user_code.max(initial=-1)) + 1, int(post_code.max(initial=-1)) + 1
    valid = (user_code >= 0) & (post_code >= 0)
    edge_key, inverse = np.unique(
        user_code[valid].astype(np.int64) * n_posts + post_code[valid], return_inverse=True
    )
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
    _, inverse, count = np.unique(
        graph.rows * n_creators + graph.post_creator[graph.cols],
        return_inverse=True,
        return_counts=True,
    )
    return 1.0 - (count[inverse] / graph.user_deg[graph.rows]) ** 2


def _search(
    graph: _Graph, weights: FloatArray, row_mass: FloatArray, col_mass: FloatArray, opt: _Options
) -> list[_Block]:
    """Peel, settle and test until enough blocks or enough fruitless rounds."""
    active = np.ones(graph.rows.size, dtype=bool)
    blocks: list[_Block] = []
    fruitless = 0
    while len(blocks) < opt.max_blocks and fruitless < opt.max_rounds_without_block:
        idx = np.flatnonzero(active & (weights > 0))
        if idx.size == 0:
            break
        seed_users, seed_posts, _ = _peel(
            graph.rows[idx],
            graph.cols[idx],
            weights[idx],
            graph.n_users,
            graph.n_posts,
            eps=opt.eps,
            max_drop_share=opt.max_drop_share,
            row_mass=row_mass,
            col_mass=col_mass,
            col_cost=opt.post_cost,
        )
        seed_edges = idx[seed_users[graph.rows[idx]] & seed_posts[graph.cols[idx]]]
        fruitless += 1
        # Examined pieces that fail leave the search. A found block's leftovers stay
        # (they may hold the core of a second farm peeled together with the first),
        # and so do pieces not examined in this round.
        keep = np.zeros(graph.n_users, dtype=bool)
        for i, (piece_users, piece_posts) in enumerate(_pieces(graph, seed_edges)):
            if i >= MAX_PIECES_PER_ROUND or len(blocks) >= opt.max_blocks:
                keep[piece_users] = True
                continue
            block = _settle(graph, active, piece_users, piece_posts, opt)
            if block is not None and _is_significant(block, opt):
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
        (np.unique(r), np.unique(c))
        for r, c in zip(np.split(rows[order], bounds), np.split(cols[order], bounds), strict=True)
    ]
    pieces = [(users, posts) for users, posts in pieces if users.size >= 2 and posts.size >= 2]
    # Largest first; the stable sort keeps label order among equals.
    sizes = np.array([users.size + posts.size for users, posts in pieces], dtype=np.int64)
    return [pieces[i] for i in np.argsort(-sizes, kind="stable")]


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


def _settle(
    graph: _Graph, active: BoolArray, seed_users: IntArray, seed_posts: IntArray, opt: _Options
) -> _Block | None:
    """Grow and trim a peeled piece to the fixed point of the membership rules, then test it.

    Accounts belong if they engage ``account_share`` of the block's posts (at
    least two, of two creators) and ``MEMBER_LIFT`` times their Chung-Lu
    share; posts likewise with ``post_share`` of the accounts. Peeling keeps
    only a farm's densest core, so its lighter accounts come back here; a viral
    post, a heavy honest user or a fan of one creator falls away.
    """
    users = np.zeros(graph.n_users, dtype=bool)
    posts = np.zeros(graph.n_posts, dtype=bool)
    users[seed_users], posts[seed_posts] = True, True
    edges = np.empty(0, dtype=np.int64)
    for _ in range(30):
        new_users = _member_users(graph, active, posts, opt)
        edges = _incident(graph.user_ptr, np.flatnonzero(new_users))
        edges = edges[active[edges]]
        per_post = np.bincount(graph.cols[edges], minlength=graph.n_posts)
        need = MEMBER_LIFT * graph.post_deg * graph.user_deg[new_users].sum() / graph.rows.size
        new_posts = per_post >= np.maximum(need, max(2.0, opt.post_share * new_users.sum()))
        settled = bool((new_users == users).all() and (new_posts == posts).all())
        users, posts = new_users, new_posts
        if settled:
            break
    edges = edges[posts[graph.cols[edges]] & users[graph.rows[edges]]]
    if edges.size == 0:
        return None
    return _test(graph, np.unique(graph.rows[edges]), np.unique(graph.cols[edges]), edges)


def _member_users(graph: _Graph, active: BoolArray, posts: BoolArray, opt: _Options) -> BoolArray:
    """Accounts that meet the membership rules for the block posts ``posts``."""
    to_posts = graph.post_order[_incident(graph.post_ptr, np.flatnonzero(posts))]
    to_posts = to_posts[active[to_posts]]
    per_user = np.bincount(graph.rows[to_posts], minlength=graph.n_users)
    need = MEMBER_LIFT * graph.user_deg * graph.post_deg[posts].sum() / graph.rows.size
    users = per_user >= np.maximum(need, max(2.0, opt.account_share * posts.sum()))
    if graph.has_creators:
        users &= _creators_per_user(graph, to_posts[users[graph.rows[to_posts]]]) >= 2
    return users


def _creators_per_user(graph: _Graph, edges: IntArray) -> IntArray:
    """How many distinct creators each user reaches through ``edges``."""
    n_creators = graph.creator_deg.size
    pairs = np.unique(graph.rows[edges] * n_creators + graph.post_creator[graph.cols[edges]])
    return np.bincount(pairs // n_creators, minlength=graph.n_users)


def _test(graph: _Graph, users: IntArray, posts: IntArray, edges: IntArray) -> _Block:
    """Measure a block against the null models: lift beyond fandom, scan-corrected p-value.

    The lift divides the edge count by Chung-Lu's expectation ``sum deg_u *
    sum deg_p / |E|`` plus, with creators known, the fan allowance (each
    account may be a fan of one block creator). The p-value is the Poisson
    tail of the edge count under Chung-Lu, times the number of blocks of the
    same shape in the window (Bonferroni over every way to pick the block),
    because the block was picked from the data for its density.
    """
    creator_mass = _weighted_count(graph.post_creator[posts], graph.post_deg[posts], graph.creator_deg.size)
    chung_lu = graph.user_deg[users].sum() * graph.post_deg[posts].sum() / graph.rows.size
    fans = float(_fan_allowance(graph, users, creator_mass).sum()) if graph.has_creators else 0.0
    n_shapes = _log10_choose(graph.n_users, users.size) + _log10_choose(graph.n_posts, posts.size)
    return _Block(
        users=users,
        posts=posts,
        edges=edges,
        n_creators=int(np.count_nonzero(creator_mass)) if graph.has_creators else 0,
        lift=edges.size / (chung_lu + fans),
        log10_p=min(0.0, _poisson_log10_sf(edges.size, chung_lu) + n_shapes),
    )


def _log10_choose(n: int, k: int) -> float:
    """log10 of the binomial coefficient C(n, k)."""
    return float(
        (special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)) / np.log(10.0)
    )


def _fan_allowance(graph: _Graph, users: IntArray, creator_mass: FloatArray) -> FloatArray:
    """Per block account, the extra edges the null grants for being a fan of one block creator.

    A fan with ``d_uk`` edges on creator k's posts is expected to put
    ``d_uk * mass_k(block) / mass_k(all)`` of them on the block's posts of k
    (in proportion to the posts' popularity) instead of Chung-Lu's
    ``d_u * mass_k(block) / |E|``; the null grants the creator where that
    gain is largest.
    """
    mine = _incident(graph.user_ptr, users)
    creator = graph.post_creator[graph.cols[mine]]
    in_block = creator_mass[creator] > 0
    mine, creator = mine[in_block], creator[in_block]
    n_creators = creator_mass.size
    pair, count = np.unique(graph.rows[mine] * n_creators + creator, return_counts=True)
    user, creator = pair // n_creators, pair % n_creators
    mass = creator_mass[creator]
    gain = count * mass / graph.creator_deg[creator] - graph.user_deg[user] * mass / graph.rows.size
    best = np.zeros(graph.n_users, dtype=np.float64)
    np.maximum.at(best, user, gain)
    return best[users]


def _poisson_log10_sf(observed: int, expected: float) -> float:
    """log10 P(X >= observed) for X ~ Poisson(expected), without underflow."""
    if observed <= 0:
        return 0.0
    if expected <= 0:
        return float("-inf")
    log_sf = float(stats.poisson.logsf(observed - 1, expected))
    if not np.isfinite(log_sf):
        # Deep in the tail the sum is its first term times at most a geometric factor.
        log_pmf = float(stats.poisson.logpmf(observed, expected))
        log_sf = log_pmf - float(np.log1p(-min(expected / (observed + 1), 0.5)))
    return log_sf / float(np.log(10.0))


def _is_significant(block: _Block, opt: _Options) -> bool:
    """Whether a block is large enough, far enough above the null, and unlikely under it."""
    return bool(
        block.users.size >= opt.min_accounts
        and block.posts.size >= opt.min_posts
        and block.lift >= opt.min_lift
        and block.log10_p <= opt.log10_alpha
    )


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
