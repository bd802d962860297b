"""The deduplicated user x post graph of a window, with CSR indexes by user and by post."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.audiences import Audiences
from features.arrays import distinct_inverse, stable_order, weighted_counts

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
    # audience communities: per post and per creator its community, per community its edges, and per
    # user its edges in each community (None with one community: the null is then plain Chung-Lu)
    post_community: IntArray
    creator_community: IntArray
    community_mass: FloatArray
    user_community_deg: FloatArray | None


def _build_graph(events: pd.DataFrame, audiences: Audiences | None) -> tuple[_Graph, IntArray]:
    """The deduplicated graph and, per event, its edge index (-1 without ids).

    With ``audiences`` a creator is its unit (a studio's creators are one) and
    each post carries its audience community.
    """
    user_code, _ = pd.factorize(events["user_id"], sort=True)
    post_code, post_ids = pd.factorize(events["post_id"], sort=True)
    n_users, n_posts = int(user_code.max(initial=-1)) + 1, int(post_code.max(initial=-1)) + 1
    valid = (user_code >= 0) & (post_code >= 0)
    edge_key, inverse, _ = distinct_inverse(user_code[valid].astype(np.int64) * n_posts + post_code[valid])
    event_edge = np.full(len(events), -1, dtype=np.int64)
    event_edge[valid] = inverse
    rows, cols = edge_key // max(n_posts, 1), edge_key % max(n_posts, 1)
    post_deg = np.bincount(cols, minlength=n_posts).astype(np.float64)
    has_creators = "creator_id" in events.columns and bool(events["creator_id"].notna().any())
    post_creator = np.zeros(n_posts, dtype=np.int64)
    if has_creators and audiences is not None:
        post_creator = np.unique(audiences.units(post_ids), return_inverse=True)[1].astype(np.int64)
    elif has_creators:
        # Missing creators share one code; a post filed under several keeps the first.
        creator_code, _ = pd.factorize(events["creator_id"], sort=True, use_na_sentinel=False)
        post_creator[:] = np.iinfo(np.int64).max
        np.minimum.at(post_creator, post_code[valid], creator_code[valid].astype(np.int64))
        post_creator[post_creator == np.iinfo(np.int64).max] = 0
    post_community = np.zeros(n_posts, dtype=np.int64)
    if audiences is not None and audiences.n_communities > 1:
        post_community = audiences.communities(audiences.units(post_ids))
    n_communities = int(post_community.max(initial=0)) + 1
    creator_community = np.zeros(int(post_creator.max(initial=0)) + 1, dtype=np.int64)
    creator_community[post_creator] = post_community
    user_deg = np.bincount(rows, minlength=n_users).astype(np.float64)
    post_order = stable_order(cols)
    graph = _Graph(
        rows=rows,
        cols=cols,
        n_users=n_users,
        n_posts=n_posts,
        user_deg=user_deg,
        post_deg=post_deg,
        post_creator=post_creator,
        creator_deg=weighted_counts(post_creator, post_deg, int(post_creator.max(initial=0)) + 1),
        has_creators=has_creators,
        user_ptr=np.searchsorted(rows, np.arange(n_users + 1)),
        post_ptr=np.searchsorted(cols[post_order], np.arange(n_posts + 1)),
        post_order=post_order,
        post_community=post_community,
        creator_community=creator_community,
        community_mass=weighted_counts(post_community, post_deg, n_communities),
        user_community_deg=(
            np.bincount(rows * n_communities + post_community[cols], minlength=n_users * n_communities)
            .reshape(n_users, n_communities)
            .astype(np.float64)
            if n_communities > 1
            else None
        ),
    )
    return graph, event_edge


def _user_chance(graph: _Graph, posts: BoolArray) -> FloatArray:
    """Per user: the edges chance puts on the posts ``posts``.

    Chung-Lu (``deg_u * mass(posts) / |E|``) within the user's audience
    communities: the user's edges in community C land on C's posts in
    proportion to their degrees.
    """
    if graph.user_community_deg is None:
        return graph.user_deg * graph.post_deg[posts].sum() / graph.rows.size
    mass = weighted_counts(graph.post_community[posts], graph.post_deg[posts], graph.community_mass.size)
    return np.asarray(graph.user_community_deg @ (mass / np.maximum(graph.community_mass, 1.0)))


def _post_chance(graph: _Graph, users: IntArray | BoolArray) -> FloatArray:
    """Per post: the edges chance puts on it from the users ``users`` (see ``_user_chance``)."""
    if graph.user_community_deg is None:
        return graph.post_deg * graph.user_deg[users].sum() / graph.rows.size
    spent = graph.user_community_deg[users].sum(axis=0) / np.maximum(graph.community_mass, 1.0)
    return np.asarray(graph.post_deg * spent[graph.post_community])


def _block_chance(graph: _Graph, users: IntArray, posts: IntArray) -> float:
    """The edges chance puts between the users ``users`` and the posts ``posts``."""
    if graph.user_community_deg is None:
        return float(graph.user_deg[users].sum() * graph.post_deg[posts].sum() / graph.rows.size)
    return float(_post_chance(graph, users)[posts].sum())


def _fan_factor(graph: _Graph, *, enabled: bool) -> FloatArray:
    """Per edge ``1 - s**2``, ``s`` the share of the account's edges on the post's creator."""
    if not (enabled and graph.has_creators):
        return np.ones(graph.rows.size)
    n_creators = graph.creator_deg.size
    _, inverse, count = distinct_inverse(graph.rows * n_creators + graph.post_creator[graph.cols])
    return 1.0 - (count[inverse] / graph.user_deg[graph.rows]) ** 2
