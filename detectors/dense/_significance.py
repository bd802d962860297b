"""A dense block measured against its null models: lift beyond fandom and a scan-corrected Poisson p-value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.dense._graph import FloatArray, IntArray, _block_chance, _Graph
from detectors.dense._params import DenseBlockParams
from detectors.stats import LN10, log10_choose, poisson_log_sf
from features.arrays import csr_ranges, distinct_counts, weighted_counts


@dataclass(frozen=True)
class _Block:
    """A tested block: its members, the edges it covers and its statistics."""

    users: IntArray
    posts: IntArray
    edges: IntArray
    n_creators: int
    lift: float
    log10_p: float


def _measure(graph: _Graph, users: IntArray, posts: IntArray, edges: IntArray) -> _Block:
    """Measure a block against the null models: lift beyond fandom, scan-corrected p-value.

    The lift divides the edge count by Chung-Lu's expectation ``sum deg_u *
    sum deg_p / |E|`` (within audience communities when the platform has
    several: a block inside one audience is measured against that audience's
    engagement, ``_block_chance``) plus, with creators known, the fan
    allowance (each account may be a fan of one block creator). The p-value
    is the Poisson tail of the edge count under that Chung-Lu, times the number of blocks of the
    same shape in the window (Bonferroni over every way to pick the block),
    because the block was picked from the data for its density.
    """
    creator_mass = weighted_counts(graph.post_creator[posts], graph.post_deg[posts], graph.creator_deg.size)
    chung_lu = _block_chance(graph, users, posts)
    fans = float(_fan_allowance(graph, users, creator_mass).sum()) if graph.has_creators else 0.0
    n_shapes = log10_choose(graph.n_users, users.size) + log10_choose(graph.n_posts, posts.size)
    return _Block(
        users=users,
        posts=posts,
        edges=edges,
        n_creators=int(np.count_nonzero(creator_mass)) if graph.has_creators else 0,
        lift=edges.size / (chung_lu + fans),
        log10_p=min(0.0, float(poisson_log_sf(edges.size, chung_lu)) / LN10 + n_shapes),
    )


def _fan_allowance(graph: _Graph, users: IntArray, creator_mass: FloatArray) -> FloatArray:
    """Per block account, the extra edges the null grants for being a fan of one block creator.

    A fan with ``d_uk`` edges on creator k's posts is expected to put
    ``d_uk * mass_k(block) / mass_k(all)`` of them on the block's posts of k
    (in proportion to the posts' popularity) instead of Chung-Lu's
    ``d_u * mass_k(block) / |E|``; the null grants the creator where that
    gain is largest.
    """
    mine = csr_ranges(graph.user_ptr, users)
    creator = graph.post_creator[graph.cols[mine]]
    in_block = creator_mass[creator] > 0
    mine, creator = mine[in_block], creator[in_block]
    n_creators = creator_mass.size
    pair, count = distinct_counts(graph.rows[mine] * n_creators + creator)
    user, creator = pair // n_creators, pair % n_creators
    mass = creator_mass[creator]
    gain = count * mass / graph.creator_deg[creator] - _chance_share(graph, user, creator) * mass
    best = np.zeros(graph.n_users, dtype=np.float64)
    np.maximum.at(best, user, gain)
    return best[users]


def _chance_share(graph: _Graph, user: IntArray, creator: IntArray) -> FloatArray:
    """Per (user, creator): the share of the creator's edges chance gives the user (per community)."""
    if graph.user_community_deg is None:
        return graph.user_deg[user] / graph.rows.size
    community = graph.creator_community[creator]
    return np.asarray(graph.user_community_deg[user, community] / graph.community_mass[community])


def _is_significant(block: _Block, params: DenseBlockParams) -> bool:
    """Whether a block is large enough, far enough above the null, and unlikely under it."""
    return bool(
        block.users.size >= params.min_accounts
        and block.posts.size >= params.min_posts
        and block.lift >= params.min_lift
        and block.log10_p <= float(np.log10(params.max_p_value))
    )
