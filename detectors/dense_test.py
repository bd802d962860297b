"""Settling a peeled piece into a block by membership rules, and testing it against a Chung-Lu null."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from detectors.dense_graph import BoolArray, FloatArray, IntArray, _Graph, _incident, _weighted_count

# Block members must hold this many times their own Chung-Lu share of the block's
# edges: heavy honest users and viral posts that touch a farm hold about one.
MEMBER_LIFT = 3.0


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
    from scipy import stats  # imported on first use, in a detector thread

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
