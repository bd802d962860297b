"""Settling a peeled piece into a block: the fixed point of the membership rules for accounts and posts."""

from __future__ import annotations

import numpy as np

from detectors.dense._graph import BoolArray, IntArray, _Graph, _post_chance, _user_chance
from detectors.dense._params import DenseBlockParams
from detectors.dense._significance import _Block, _measure
from features.arrays import csr_ranges, distinct


def _settle(
    graph: _Graph, active: BoolArray, seed_users: IntArray, seed_posts: IntArray, params: DenseBlockParams
) -> _Block | None:
    """Grow and trim a peeled piece to the fixed point of the membership rules, then test it.

    Accounts belong if they engage ``min_account_share`` of the block's posts (at
    least ``min_member_edges``, of ``min_account_creators`` creators) and
    ``member_lift`` times their chance share (Chung-Lu within audience
    communities, ``_user_chance``); posts likewise with
    ``min_post_share`` of the accounts. Peeling keeps
    only a farm's densest core, so its lighter accounts come back here; a viral
    post, a heavy honest user or a fan of one creator falls away.
    """
    users = np.zeros(graph.n_users, dtype=bool)
    posts = np.zeros(graph.n_posts, dtype=bool)
    users[seed_users], posts[seed_posts] = True, True
    edges = np.empty(0, dtype=np.int64)
    for _ in range(params.max_settle_rounds):
        new_users = _member_users(graph, active, posts, params)
        edges = csr_ranges(graph.user_ptr, np.flatnonzero(new_users))
        edges = edges[active[edges]]
        per_post = np.bincount(graph.cols[edges], minlength=graph.n_posts)
        need = params.member_lift * _post_chance(graph, new_users)
        least = max(float(params.min_member_edges), params.min_post_share * new_users.sum())
        new_posts = per_post >= np.maximum(need, least)
        settled = bool((new_users == users).all() and (new_posts == posts).all())
        users, posts = new_users, new_posts
        if settled:
            break
    edges = edges[posts[graph.cols[edges]] & users[graph.rows[edges]]]
    if edges.size == 0:
        return None
    return _measure(graph, distinct(graph.rows[edges]), distinct(graph.cols[edges]), edges)


def _member_users(graph: _Graph, active: BoolArray, posts: BoolArray, params: DenseBlockParams) -> BoolArray:
    """Accounts that meet the membership rules for the block posts ``posts``."""
    to_posts = graph.post_order[csr_ranges(graph.post_ptr, np.flatnonzero(posts))]
    to_posts = to_posts[active[to_posts]]
    per_user = np.bincount(graph.rows[to_posts], minlength=graph.n_users)
    need = params.member_lift * _user_chance(graph, posts)
    users = per_user >= np.maximum(
        need, max(float(params.min_member_edges), params.min_account_share * posts.sum())
    )
    if graph.has_creators:
        users &= (
            _creators_per_user(graph, to_posts[users[graph.rows[to_posts]]]) >= params.min_account_creators
        )
    return users


def _creators_per_user(graph: _Graph, edges: IntArray) -> IntArray:
    """How many distinct creators each user reaches through ``edges``."""
    n_creators = graph.creator_deg.size
    pairs = distinct(graph.rows[edges] * n_creators + graph.post_creator[graph.cols[edges]])
    return np.bincount(pairs // n_creators, minlength=graph.n_users)
