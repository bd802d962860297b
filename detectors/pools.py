"""Seller pools: accounts that keep co-engaging the same posts of unrelated creators.

A seller of aged accounts gives each account its own device and a residential
IP and lets it engage on an organic-looking clock; what it cannot hide is that
the same pool serves every order, so posts of unrelated creators share far more
light engagers than chance allows. This is SynchroTrap's co-engagement without
its time window, on the post x post projection of the user x post graph.

Chance is a configuration model of the window's light accounts, so the window
must be one platform's (``detectors.strata.per_platform``): accounts never
cross platforms, and over a window of several the overlap on a small platform
looks far less likely than it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from detectors.base import Detection
from features.arrays import codes, distinct, distinct_counts

NAME = "pool"


@dataclass(frozen=True)
class PoolParams:
    """Knobs of the seller-pool detector."""

    # an account with fewer distinct posts in the window (or creators, for membership) says nothing
    min_posts: int = 2
    # an account with more distinct posts is heavy and overlaps everywhere; creator counts cap here too
    max_posts: int = 12
    # two posts link only when they share at least this many light accounts
    min_shared_accounts: int = 5
    # a link's Poisson tail must be at most this, Bonferroni-corrected over cross-creator post pairs
    max_p_value: float = 0.01
    # an account joins a pool when chance explains at most this share of the accounts like it
    max_fdr: float = 0.1
    # a member engaged at least this many of the pool's creators
    min_creators: int = 2
    # fewer light pairs, or a pool with fewer accounts, is never reported
    min_accounts: int = 10
    # Louvain resolutions of the link graph, coarse first: the first pool holding an event keeps it
    resolutions: tuple[float, ...] = (0.5, 1.0)
    # seed of the Louvain communities
    louvain_seed: int = 0
    # rounds of taking members' own engagement out of chance before membership is final
    max_member_rounds: int = 10
    # median link lift from which a pool's strength rises above 0
    base_lift: float = 5.0
    # tenfold lifts beyond ``base_lift`` at which the strength reaches 1
    full_strength_decades: float = 2.0
    # event score of a pool at strength 0
    min_score: float = 0.6
    # score added at full strength
    strength_score: float = 0.35


def seller_pools(engagements: pd.DataFrame, *, params: PoolParams) -> Detection:
    """Events of pool accounts on the posts their pool co-engages.

    Only light accounts (``min_posts`` to ``max_posts`` distinct posts in the
    window) count: heavy users overlap everywhere and a single engagement says
    nothing. Two posts of different creators are linked when they share at least
    ``min_shared_accounts`` light accounts and a configuration model of the light
    accounts' degrees makes that many shared accounts unlikely: Poisson tail at
    most ``max_p_value``, Bonferroni-corrected over every pair of posts of
    different creators (a creator's own fans link only that creator's posts, so
    same-creator pairs never count). Linked posts form pools.

    Linked posts form pools: Louvain communities of the link graph at each of
    ``resolutions`` (coarse first), so that one seller's posts stay together
    without being chained to another seller's through a post both served. An
    event belongs to the first pool, in that order, that holds its account.

    Whether an account belongs to a pool is decided like a false discovery
    rate, in creators: an account that engaged ``d`` creators, ``k`` of them
    (at least ``min_creators``) in the pool, is a member when, among the
    accounts of ``d`` creators with at least ``k`` in the pool, chance (each of
    an account's creators landing in the pool in proportion to the pool's share
    of the window's honest engagement) explains at most ``max_fdr`` of them. An
    honest light account that happened on two popular pool posts is as common
    as chance says and stays out; the pool's accounts, which keep coming back to
    unrelated creators, are far more common.
    """
    n = len(engagements)
    users = codes(engagements["user_id"])
    posts = codes(engagements["post_id"])
    ok = (users >= 0) & (posts >= 0)
    if n == 0 or not ok.any():
        return Detection.empty(NAME, n)
    n_posts = int(posts.max()) + 1
    pair_user, pair_post = _light_pairs(users[ok], posts[ok], n_posts, params.min_posts, params.max_posts)
    if len(pair_user) < params.min_accounts:
        return Detection.empty(NAME, n)
    creator = _post_creators(engagements, posts, n_posts)
    links = _linked_posts(
        pair_user,
        pair_post,
        creator,
        n_posts,
        min_shared=params.min_shared_accounts,
        max_p_value=params.max_p_value,
    )
    if links.empty:
        return Detection.empty(NAME, n)
    # a post of an unknown creator stands for a creator of its own
    creator = np.where(creator >= 0, creator, int(creator.max()) + 1 + np.arange(n_posts))
    event_pool = np.full(n, -1, dtype=np.int64)
    lifts: list[npt.NDArray[np.float64]] = []
    for resolution in params.resolutions:
        n_pools, post_pool = _pools(links, n_posts, resolution=resolution, seed=params.louvain_seed)
        members = _members(pair_user, creator[pair_post], post_pool[pair_post], n_pools, params=params)
        # an event found at a coarser resolution keeps that pool
        _assign(
            event_pool,
            users,
            post_pool[np.maximum(posts, 0)],
            ok,
            members,
            n_pools,
            first=sum(map(len, lifts)),
        )
        lifts.append(_median_lift(links, post_pool, n_pools))
    return _detection(engagements, event_pool, np.concatenate(lifts), params=params)


def _light_pairs(
    users: npt.NDArray[np.int64], posts: npt.NDArray[np.int64], n_posts: int, min_posts: int, max_posts: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Distinct (account, post) pairs of the accounts with ``min_posts`` to ``max_posts`` posts."""
    pairs = distinct(users * n_posts + posts)
    pair_user, pair_post = pairs // n_posts, pairs % n_posts
    degree = np.bincount(pair_user)
    light = (degree[pair_user] >= min_posts) & (degree[pair_user] <= max_posts)
    return pair_user[light], pair_post[light]


def _assign(
    event_pool: npt.NDArray[np.int64],
    users: npt.NDArray[np.int64],
    pool_of_event: npt.NDArray[np.int64],
    ok: npt.NDArray[np.bool_],
    members: npt.NDArray[np.int64],
    n_pools: int,
    *,
    first: int,
) -> None:
    """Give events of members on their pools' posts, not yet in a pool, pool number ``first + pool``."""
    found = ok & (event_pool < 0) & (pool_of_event >= 0)
    found &= np.isin(users * (n_pools + 1) + pool_of_event, members)
    event_pool[found] = pool_of_event[found] + first


def _median_lift(
    links: pd.DataFrame, post_pool: npt.NDArray[np.int64], n_pools: int
) -> npt.NDArray[np.float64]:
    """Per pool: the median lift of the links inside it."""
    a, b = post_pool[links["a"].to_numpy()], post_pool[links["b"].to_numpy()]
    inside = a == b
    median = pd.Series(links["lift"].to_numpy()[inside]).groupby(a[inside]).median()
    return median.reindex(np.arange(n_pools)).fillna(0.0).to_numpy(np.float64)


def _members(
    pair_user: npt.NDArray[np.int64],
    pair_creator: npt.NDArray[np.int64],
    pair_pool: npt.NDArray[np.int64],
    n_pools: int,
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64]:
    """Sorted keys ``user * (n_pools + 1) + pool`` of the pools' members (see ``seller_pools``).

    Accounts are counted in creators, not posts: a fan of one creator who
    bought engagement follows all of that creator's pooled posts, which is
    loyalty, not a pool; a pool's account keeps turning up at unrelated creators.
    """
    width = int(pair_creator.max()) + 1
    user_creator = distinct(pair_user * width + pair_creator)
    degree = np.bincount(user_creator // width)
    in_pool = pair_pool >= 0
    user_pool = pair_user[in_pool] * (n_pools + 1) + pair_pool[in_pool]
    triples = distinct(user_pool * width + pair_creator[in_pool])
    keys, k = distinct_counts(triples // width)
    key_user, key_pool = keys // (n_pools + 1), keys % (n_pools + 1)
    key_degree = np.minimum(degree[key_user], params.max_posts)
    accounts_of_degree = np.bincount(
        np.minimum(degree[distinct(pair_user)], params.max_posts), minlength=params.max_posts + 1
    ).astype(np.float64)
    total_mass = float(len(user_creator))
    pool_mass = np.bincount(triples // width % (n_pools + 1), minlength=n_pools).astype(np.float64)
    member = np.zeros(len(keys), dtype=bool)
    for _ in range(params.max_member_rounds):
        # chance is the honest share of engagement: members' own pool creators are taken out
        member_mass = np.bincount(key_pool[member], weights=k[member], minlength=n_pools)
        share = (pool_mass - member_mass) / max(total_mass - float(member_mass.sum()), 1.0)
        found = _significant(k, key_degree, key_pool, share, accounts_of_degree, params=params)
        if np.array_equal(found, member):
            break
        member = found
    return keys[member]


def _significant(
    k: npt.NDArray[np.int64],
    degree: npt.NDArray[np.int64],
    pool: npt.NDArray[np.int64],
    share: npt.NDArray[np.float64],
    accounts_of_degree: npt.NDArray[np.float64],
    *,
    params: PoolParams,
) -> npt.NDArray[np.bool_]:
    """Per (account, pool) row: chance explains at most ``max_fdr`` of the accounts like it or more."""
    n_pools = len(share)
    width = params.max_posts + 1
    # observed accounts per (pool, degree, posts in pool), and what chance predicts
    cell = (pool * width + degree) * width + k
    observed = np.bincount(cell, minlength=n_pools * width * width).reshape(n_pools, width, width)
    d = np.arange(width)[:, None]
    j = np.arange(width)[None, :]
    choose = np.array([[math.comb(a, b) for b in range(width)] for a in range(width)], dtype=np.float64)
    p = np.clip(share, 0.0, 1.0)[:, None, None]
    pmf = choose[None] * p ** j[None] * (1.0 - p) ** np.maximum(d - j, 0)[None] * (j <= d)[None]
    expected = accounts_of_degree[None, :, None] * pmf
    # tails over k' >= k, from the largest k down
    observed_tail = np.cumsum(observed[:, :, ::-1], axis=2)[:, :, ::-1]
    expected_tail = np.cumsum(expected[:, :, ::-1], axis=2)[:, :, ::-1]
    fdr = expected_tail / np.maximum(observed_tail, 1)
    ok_cell = (fdr <= params.max_fdr) & (j >= params.min_creators)[None] & (d >= params.min_posts)[None]
    # step-up: once some k* passes, every k above it does too
    ok_cell = np.maximum.accumulate(ok_cell, axis=2)
    return np.asarray(ok_cell.reshape(-1)[cell], dtype=bool)


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
    max_p_value: float,
) -> pd.DataFrame:
    """Pairs of posts of different creators that share far more light accounts than chance."""
    from scipy.special import pdtrc  # lazy: scipy.special costs import time

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
    cross = (creator[shared.row] != creator[shared.col]) | (creator[shared.row] < 0)
    candidate = cross & (shared.data >= min_shared)
    tests = _cross_creator_pairs(creator[post_degree > 0])
    p_value = np.ones(len(shared.data))
    p_value[candidate] = pdtrc(shared.data[candidate] - 1, np.maximum(expected[candidate], 1e-12))
    keep = candidate & (p_value <= max_p_value / max(tests, 1.0))
    lift = shared.data / np.maximum(expected, 1e-9)
    return pd.DataFrame(
        {
            "a": shared.row[keep],
            "b": shared.col[keep],
            "shared": shared.data[keep],
            "lift": lift[keep],
            "p_value": p_value[keep],
        }
    )


def _cross_creator_pairs(creator: npt.NDArray[np.int64]) -> float:
    """Pairs of posts of different creators among posts with these creators (-1: unknown, each its own)."""
    n = float(len(creator))
    known = creator[creator >= 0]
    same = np.bincount(known).astype(np.float64) if len(known) else np.zeros(0)
    return (n * (n - 1) - float((same * (same - 1)).sum())) / 2


def _pools(
    links: pd.DataFrame, n_posts: int, *, resolution: float, seed: int
) -> tuple[int, npt.NDArray[np.int64]]:
    """Communities of linked posts; per post its pool number, -1 when unlinked.

    One seller's orders link every pair of its posts; a farm's camouflage on
    honest posts and shared accounts between sellers add thinner links between
    such cliques. Louvain communities of the link graph, weighted by the shared
    accounts beyond chance, keep each seller's posts together without chaining
    them into one pool, whose wide share of engagement would hide its members.
    Below ``resolution`` 1 a seller's clique, whose link weights vary only by
    chance, is never cut in two (at 1 modularity gains almost nothing by keeping
    it whole); at 1, two sellers joined by one post they both served separate.
    """
    import networkx as nx  # lazy: networkx costs import time

    shared = links["shared"].to_numpy()
    beyond_chance = shared - shared / links["lift"].to_numpy()
    graph = nx.Graph()
    ends = zip(links["a"].to_numpy().tolist(), links["b"].to_numpy().tolist(), strict=True)
    graph.add_weighted_edges_from((a, b, w) for (a, b), w in zip(ends, beyond_chance.tolist(), strict=True))
    communities = nx.community.louvain_communities(graph, weight="weight", resolution=resolution, seed=seed)
    out = np.full(n_posts, -1, dtype=np.int64)
    for number, members in enumerate(sorted(communities, key=min)):
        out[np.fromiter(members, dtype=np.int64)] = number
    return len(communities), out


def _detection(
    engagements: pd.DataFrame,
    event_pool: npt.NDArray[np.int64],
    median_lift: npt.NDArray[np.float64],
    *,
    params: PoolParams,
) -> Detection:
    """The pools of at least ``min_accounts`` accounts, scored by their links' median lift."""
    n = len(engagements)
    hit = event_pool >= 0
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
    per_pool["median_lift"] = median_lift[per_pool.index.to_numpy()]
    kept = per_pool[per_pool["n_accounts"] >= params.min_accounts]
    if kept.empty:
        return Detection.empty(NAME, n)
    group_of_pool = pd.Series(np.arange(len(kept), dtype=np.int64), index=kept.index)
    event_group = np.full(n, -1, dtype=np.int64)
    event_group[hit] = group_of_pool.reindex(event_pool[hit]).fillna(-1).to_numpy(np.int64)
    decades = np.log10(kept["median_lift"].to_numpy() / params.base_lift)
    strength = np.clip(decades / params.full_strength_decades, 0.0, 1.0)
    score_of_group = params.min_score + params.strength_score * strength
    score = np.where(event_group >= 0, score_of_group[np.maximum(event_group, 0)], 0.0)
    groups = kept.reset_index(drop=True)
    groups.insert(0, "group_id", np.arange(len(kept), dtype=np.int64))
    groups["evidence"] = [
        f"pool: {a} light accounts kept co-engaging {p} posts of {c} unrelated creators, "
        f"post pairs sharing {x:.0f}x the accounts chance predicts on their platform"
        for a, p, c, x in zip(
            groups["n_accounts"], groups["n_posts"], groups["n_creators"], groups["median_lift"], strict=True
        )
    ]
    return Detection(NAME, score.astype(np.float64), event_group, groups)
