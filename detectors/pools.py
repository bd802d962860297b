"""Seller pools: accounts that keep co-engaging the same posts of unrelated creators.

A seller of aged accounts gives each account its own device and a residential
IP and lets it engage on an organic-looking clock; what it cannot hide is that
the same pool serves every order, so posts of unrelated creators share far more
light engagers than chance allows. This is SynchroTrap's co-engagement without
its time window, on the post x post projection of the user x post graph.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from detectors.base import Detection
from features.codes import codes, distinct

NAME = "pool"


def seller_pools(
    engagements: pd.DataFrame,
    *,
    min_degree: int = 2,
    max_degree: int = 12,
    min_shared: int = 8,
    min_lift: float = 50.0,
    min_account_posts: int = 2,
    min_focus: float = 0.6,
    min_accounts: int = 10,
) -> Detection:
    """Events of pool accounts on the posts their pool co-engages.

    Only light accounts (``min_degree`` to ``max_degree`` distinct posts in the
    window) count: heavy users overlap everywhere and a single engagement says
    nothing. Two posts of different creators are linked when they share at least
    ``min_shared`` light accounts and ``min_lift`` x what a configuration model
    of the light accounts' degrees predicts (a creator's own fans link only that
    creator's posts, so same-creator pairs never count). Linked posts form pools;
    an account belongs to one when at least ``min_account_posts`` of its posts,
    and ``min_focus`` of all of them, lie in it.
    """
    n = len(engagements)
    users = codes(engagements["user_id"])
    posts = codes(engagements["post_id"])
    ok = (users >= 0) & (posts >= 0)
    if n == 0 or not ok.any():
        return Detection.empty(NAME, n)
    n_posts = int(posts.max()) + 1
    pairs = distinct(users[ok] * n_posts + posts[ok])
    pair_user, pair_post = pairs // n_posts, pairs % n_posts
    degree = np.bincount(pair_user)
    light = (degree[pair_user] >= min_degree) & (degree[pair_user] <= max_degree)
    if light.sum() < min_accounts:
        return Detection.empty(NAME, n)
    links = _linked_posts(
        pair_user[light],
        pair_post[light],
        _post_creators(engagements, posts, n_posts),
        n_posts,
        min_shared=min_shared,
        min_lift=min_lift,
    )
    if links.empty:
        return Detection.empty(NAME, n)
    n_pools, post_pool = _pools(links, n_posts)
    pair_pool = post_pool[pair_post]
    in_pool = pair_pool >= 0
    key = pair_user[in_pool] * (n_pools + 1) + pair_pool[in_pool]
    member_keys, posts_in_pool = np.unique(key, return_counts=True)
    member_user = member_keys // (n_pools + 1)
    is_member = (posts_in_pool >= min_account_posts) & (posts_in_pool / degree[member_user] >= min_focus)
    members = member_keys[is_member]
    event_key = users * (n_pools + 1) + np.where(posts >= 0, post_pool[np.maximum(posts, 0)], -1)
    hit = ok & (post_pool[np.maximum(posts, 0)] >= 0) & np.isin(event_key, members)
    return _detection(engagements, hit, post_pool[np.maximum(posts, 0)], links, post_pool, min_accounts)


def _post_creators(
    engagements: pd.DataFrame, posts: npt.NDArray[np.int64], n_posts: int
) -> npt.NDArray[np.int64]:
    """Per post code: its creator's code (-1 when unknown)."""
    creator = np.full(n_posts, -1, dtype=np.int64)
    if "creator_id" in engagements:
        creators = codes(engagements["creator_id"])
        has = posts >= 0
        creator[posts[has]] = creators[has]
    return creator


def _linked_posts(
    user: npt.NDArray[np.int64],
    post: npt.NDArray[np.int64],
    creator: npt.NDArray[np.int64],
    n_posts: int,
    *,
    min_shared: int,
    min_lift: float,
) -> pd.DataFrame:
    """Pairs of posts of different creators that share far more light accounts than chance."""
    _, user_rows = np.unique(user, return_inverse=True)
    matrix = sparse.csr_matrix(
        (np.ones(len(user), dtype=np.float64), (user_rows, post)), shape=(int(user_rows.max()) + 1, n_posts)
    )
    shared = sparse.triu(matrix.T @ matrix, k=1).tocoo()
    post_degree = np.asarray(matrix.sum(axis=0)).ravel()
    account_degree = np.asarray(matrix.sum(axis=1)).ravel()
    mass = float(post_degree.sum())
    # configuration model: each account's d(d-1) ordered post pairs land on posts by their degree
    expected = (
        float((account_degree * (account_degree - 1)).sum())
        * (post_degree[shared.row] / mass)
        * (post_degree[shared.col] / mass)
    )
    lift = shared.data / np.maximum(expected, 1e-9)
    keep = (
        (shared.data >= min_shared)
        & (lift >= min_lift)
        & ((creator[shared.row] != creator[shared.col]) | (creator[shared.row] < 0))
    )
    return pd.DataFrame(
        {"a": shared.row[keep], "b": shared.col[keep], "shared": shared.data[keep], "lift": lift[keep]}
    )


def _pools(links: pd.DataFrame, n_posts: int) -> tuple[int, npt.NDArray[np.int64]]:
    """Connected groups of linked posts; per post its pool number, -1 when unlinked."""
    graph = sparse.coo_matrix(
        (np.ones(len(links)), (links["a"].to_numpy(), links["b"].to_numpy())), shape=(n_posts, n_posts)
    )
    _, labels = connected_components(graph, directed=False)
    linked = np.zeros(n_posts, dtype=bool)
    linked[links["a"].to_numpy()] = True
    linked[links["b"].to_numpy()] = True
    pool_ids, post_pool = np.unique(labels[linked], return_inverse=True)
    out = np.full(n_posts, -1, dtype=np.int64)
    out[np.flatnonzero(linked)] = post_pool
    return len(pool_ids), out


def _detection(
    engagements: pd.DataFrame,
    hit: npt.NDArray[np.bool_],
    event_pool: npt.NDArray[np.int64],
    links: pd.DataFrame,
    post_pool: npt.NDArray[np.int64],
    min_accounts: int,
) -> Detection:
    n = len(engagements)
    frame = pd.DataFrame(
        {
            "pool": event_pool[hit],
            "user": codes(engagements["user_id"])[hit],
            "post": codes(engagements["post_id"])[hit],
            "creator": codes(engagements["creator_id"])[hit] if "creator_id" in engagements else 0,
        }
    )
    per_pool = frame.groupby("pool").agg(
        n_accounts=("user", "nunique"),
        n_posts=("post", "nunique"),
        n_creators=("creator", "nunique"),
        n_events=("user", "size"),
    )
    links = links.assign(pool=post_pool[links["a"].to_numpy()])
    per_pool = per_pool.join(links.groupby("pool")["lift"].median().rename("median_lift"))
    kept = per_pool[per_pool["n_accounts"] >= min_accounts]
    if kept.empty:
        return Detection.empty(NAME, n)
    group_of_pool = pd.Series(np.arange(len(kept), dtype=np.int64), index=kept.index)
    event_group = np.full(n, -1, dtype=np.int64)
    event_group[hit] = group_of_pool.reindex(event_pool[hit]).fillna(-1).to_numpy(np.int64)
    strength = np.clip(np.log10(kept["median_lift"].to_numpy() / 50.0) / 2, 0.0, 1.0)
    score_of_group = 0.6 + 0.35 * strength
    score = np.where(event_group >= 0, score_of_group[np.maximum(event_group, 0)], 0.0)
    groups = kept.reset_index(drop=True)
    groups.insert(0, "group_id", np.arange(len(kept), dtype=np.int64))
    groups["evidence"] = [
        f"pool: {a} light accounts kept co-engaging {p} posts of {c} unrelated creators, "
        f"post pairs sharing {x:.0f}x the accounts chance predicts"
        for a, p, c, x in zip(
            groups["n_accounts"], groups["n_posts"], groups["n_creators"], groups["median_lift"], strict=True
        )
    ]
    return Detection(NAME, score.astype(np.float64), event_group, groups)
