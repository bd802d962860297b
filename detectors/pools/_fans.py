"""Fans, not orders: a pool whose accounts engage its creators' other posts as the creators' crowd does."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.pools._params import PoolParams
from detectors.pools._search import _Light
from detectors.spread import is_creator_account


def _creator_accounts(engagements: pd.DataFrame, users: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Per account (``users``' codes): a creator of the window, its own account engaging
    (``detectors.spread.is_creator_account``)."""
    own = is_creator_account(engagements) & (users >= 0)
    out = np.zeros(int(users.max()) + 1 if len(users) else 0, dtype=bool)
    out[users[own]] = True
    return out


def _without_fans(
    light: _Light,
    event_pool: npt.NDArray[np.int64],
    creators: npt.NDArray[np.bool_] | None,
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64]:
    """``event_pool`` without the pools whose accounts are their creators' fans (``_fans``).

    A seller fills orders: an order is placed for a post, and the seller's
    accounts engage the client's posts that were bought and none of the
    client's others. A fan follows the creator and engages its other posts as
    the rest of the creator's crowd does. So a pool whose accounts engage its
    creators' posts outside the pool about as often as the crowd of the same
    pool posts does is an audience's keen fans (only flags are taken away).
    An engagement pod engages every post of its members too, but it is made
    of creators (and their alt accounts): a pool that holds a creator's own
    account (``creators``, per account; None: none known) is not judged.
    """
    out = event_pool.copy()
    held = light.ok & (event_pool >= 0)
    pools = np.unique(event_pool[held])
    if len(pools) == 0:
        return out
    pooled = np.zeros(int(light.users.max()) + 1, dtype=bool)
    pooled[light.users[held]] = True
    for pool in pools:
        events = held & (event_pool == pool)
        if creators is not None and creators[light.users[events]].any():
            continue
        if _fans(light, events, pooled, params=params):
            out[events] = -1
    return out


def _fans(
    light: _Light,
    events: npt.NDArray[np.bool_],
    pooled: npt.NDArray[np.bool_],
    *,
    params: PoolParams,
) -> bool:
    """Whether the pool of ``events`` is fans: on its units' other light posts that the crowd engaged
    (``_other_posts``), at least ``fans_min_posts`` of them, at least ``fans_min_share`` are engaged by the
    pool's accounts at least ``fans_min_ratio`` times as often as by the crowd, and the units with such
    posts hold at least ``fans_min_accounts`` of the pool's accounts (a seller's pool with a few fans
    riding on one client is not judged by them). With ``fans_near_crowd``, also where at least
    ``fans_near_min_share`` of the posts are engaged between ``fans_min_ratio`` and ``fans_near_max_ratio``
    times the crowd's rate (an order fills a bought post far above it). ``pooled``: per account, in any
    pool."""
    on_pool = np.zeros(len(light.unit), dtype=bool)
    on_pool[light.posts[events]] = True
    member = np.zeros(len(pooled), dtype=bool)
    member[light.users[events]] = True
    judged = np.zeros(len(pooled), dtype=bool)
    n_posts = n_like = n_near = 0
    units = np.unique(light.unit[light.posts[events]])
    # the light pairs on the pool's units, found once
    on_units = np.isin(light.pair_unit, units)
    pairs = (light.pair_user[on_units], light.pair_post[on_units], light.pair_unit[on_units])
    for unit in units:
        ratios, accounts = _other_posts(pairs, unit, on_pool, member, pooled)
        if len(ratios) == 0:
            continue
        n_posts += len(ratios)
        n_like += int((ratios >= params.fans_min_ratio).sum())
        n_near += int(((ratios >= params.fans_min_ratio) & (ratios <= params.fans_near_max_ratio)).sum())
        judged[accounts] = True
    every = n_like >= params.fans_min_share * n_posts
    near = params.fans_near_crowd and n_near >= params.fans_near_min_share * n_posts
    if n_posts < params.fans_min_posts or not (every or near):
        return False
    return bool(judged[member].mean() >= params.fans_min_accounts)


def _other_posts(
    pairs: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]],
    unit: int,
    on_pool: npt.NDArray[np.bool_],
    member: npt.NDArray[np.bool_],
    pooled: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Per light post of ``unit`` outside the pool (``on_pool``) that the crowd engaged: the share of the
    pool's accounts on the unit's pool posts that engaged it, over the crowd's share (the unit's light
    accounts on those pool posts that no pool holds); and the pool's accounts on the unit's pool posts.
    ``pairs``: light pairs (account, post, unit) that hold the unit's."""
    on_unit = pairs[2] == unit
    user, post = pairs[0][on_unit], pairs[1][on_unit]
    inside = on_pool[post]
    accounts = np.unique(user[inside & member[user]])
    crowd = np.unique(user[inside & ~pooled[user]])
    others = np.unique(post[~inside])
    if len(accounts) == 0 or len(crowd) == 0 or len(others) == 0:
        return np.zeros(0, dtype=np.float64), accounts
    outside = ~inside
    is_account = np.zeros(len(member), dtype=bool)
    is_account[accounts] = True
    is_crowd = np.zeros(len(member), dtype=bool)
    is_crowd[crowd] = True
    where = np.searchsorted(others, post[outside])
    mine = np.bincount(where, weights=is_account[user[outside]], minlength=len(others))
    theirs = np.bincount(where, weights=is_crowd[user[outside]], minlength=len(others))
    seen = theirs > 0
    if not seen.any():
        return np.zeros(0, dtype=np.float64), accounts
    rate = (mine[seen] / len(accounts)) / (theirs[seen] / len(crowd))
    return rate.astype(np.float64), accounts
