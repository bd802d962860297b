"""A pool whose crowd stays home: an audience's keen fans, not a seller's order (``crowd_home_fans``)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.pools._fans import _creator_accounts
from detectors.pools._params import PoolParams
from features.arrays import codes


def _crowd_checked(
    engagements: pd.DataFrame,
    event_pool: npt.NDArray[np.int64],
    event_unit: npt.NDArray[np.int64],
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64]:
    """``event_pool``, with ``crowd_home_fans`` less the pools whose crowd stays home
    (``_without_home_crowds``); ``event_unit``: per event its post's creator unit."""
    if not params.crowd_home_fans or not (event_pool >= 0).any():
        return event_pool
    users, posts = codes(engagements["user_id"]), codes(engagements["post_id"])
    creators = _creator_accounts(engagements, users)
    when = _post_percentiles(posts, engagements["ts"].to_numpy(dtype="datetime64[us]").astype(np.int64))
    return _without_home_crowds(users, posts, event_unit, when, event_pool, creators, params=params)


def _post_percentiles(posts: npt.NDArray[np.int64], ts: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Per event: where its time falls among its post's engagements, 0 (first) to 1 (last)."""
    by_post = pd.Series(ts).groupby(posts)
    rank = by_post.rank(method="average").to_numpy(np.float64)
    return (rank - 0.5) / by_post.transform("size").to_numpy(np.float64)


def _timing_distance(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """The two-sample Kolmogorov-Smirnov distance of ``a`` and ``b`` (1 when either is empty)."""
    if len(a) == 0 or len(b) == 0:
        return 1.0
    grid = np.concatenate([a, b])
    in_a = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    in_b = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.abs(in_a - in_b).max())


def _without_home_crowds(
    users: npt.NDArray[np.int64],
    posts: npt.NDArray[np.int64],
    event_unit: npt.NDArray[np.int64],
    when: npt.NDArray[np.float64],
    event_pool: npt.NDArray[np.int64],
    creators: npt.NDArray[np.bool_],
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64]:
    """``event_pool`` without the pools whose crowd stays on the pool's creator units (``_home_share``)
    and whose events came when their posts' other engagers' did (``when``: per event its place in its
    post's time, ``_post_percentiles``; a distance of at most ``crowd_home_max_timing_distance``).

    Keen fans of a small audience and its casual crowd are one population: both engage the audience's
    creators and no others, so most other engagers of the pool's posts engage the pool's creators only.
    A seller's order is placed on clients whose crowd follows other creators as well, and a bought
    delivery (drip-fed) comes as its own pulse after the purchase, not with the post's crowd.
    Only flags are taken away; a pool holding a creator's own account (an engagement pod) stays."""
    ok = (users >= 0) & (posts >= 0)
    if not ok.any():
        return event_pool
    n_posts = int(posts.max()) + 1
    unit = np.zeros(n_posts, dtype=np.int64)
    unit[posts[ok]] = event_unit[ok]
    # distinct (account, post) pairs of every event, heavy accounts too
    key = np.unique(users[ok] * n_posts + posts[ok])
    pair_user, pair_post = key // n_posts, key % n_posts
    n_user_posts = np.bincount(pair_user, minlength=int(users.max()) + 1)
    out = event_pool.copy()
    for pool in np.unique(event_pool[event_pool >= 0]):
        ev = (event_pool == pool) & ok
        members = np.unique(users[ev])
        if len(creators) and creators[members[members < len(creators)]].any():
            continue
        share = _home_share(pair_user, pair_post, unit, n_user_posts, members, posts[ev], params)
        if share < params.crowd_home_min_share:
            continue
        crowd = ok & ~ev & np.isin(posts, np.unique(posts[ev]))
        if _timing_distance(when[ev], when[crowd]) <= params.crowd_home_max_timing_distance:
            out[event_pool == pool] = -1
    return out


def _home_share(
    pair_user: npt.NDArray[np.int64],
    pair_post: npt.NDArray[np.int64],
    unit: npt.NDArray[np.int64],
    n_user_posts: npt.NDArray[np.int64],
    members: npt.NDArray[np.int64],
    pool_posts: npt.NDArray[np.int64],
    params: PoolParams,
) -> float:
    """The share of the pool's crowd (accounts on its posts, not its members, with two posts or more) whose
    every post lies on the pool's creator units; 0 with fewer than ``crowd_home_min_accounts`` of them."""
    on_pool = np.isin(pair_post, np.unique(pool_posts))
    crowd = np.setdiff1d(np.unique(pair_user[on_pool]), members)
    crowd = crowd[n_user_posts[crowd] >= 2]
    if len(crowd) < params.crowd_home_min_accounts:
        return 0.0
    home_units = np.unique(unit[pool_posts])
    at_home = np.isin(pair_user, crowd) & np.isin(unit[pair_post], home_units)
    n_home = np.bincount(pair_user[at_home], minlength=len(n_user_posts))[crowd]
    return float(np.mean(n_home == n_user_posts[crowd]))
