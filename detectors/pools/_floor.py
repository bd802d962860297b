"""The book's effect-size floor: a pool of fewer accounts than a reported pool needs gets no book."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.pools._chance import account_names
from detectors.pools._params import PoolParams
from detectors.pools._search import _Light
from detectors.pools._studio import _post_creators
from features.arrays import distinct


def _post_owners(engagements: pd.DataFrame, light: _Light, n_posts: int) -> npt.NDArray[np.int64]:
    """Per post code: the account code of its creator's own account (the contract's ``creator_id`` as a
    ``user_id``), -1 where the creator engages nothing in these rows (``light.users``)."""
    creator = _post_creators(engagements, light.posts, light.ok, n_posts)
    if "creator_id" not in engagements or len(creator) == 0:
        return np.full(n_posts, -1, dtype=np.int64)
    # the posts' creators are looked up among the accounts of these rows (by a hash of the few creators):
    # a window with history holds a million accounts in its categories, most on other platforms' rows,
    # and hashing them all per platform cost a second at 1M + 3M (docs/journal/session-17.md, histcost18). An
    # owner on none of these rows is never any row's account, which is all ``_pod`` reads of it
    shown = distinct(creator[creator >= 0])
    names = pd.Index(account_names(engagements["creator_id"])[shown].astype("str"))
    users = distinct(light.users[light.users >= 0])
    found = names.get_indexer(account_names(engagements["user_id"])[users].astype("str"))
    account = np.full(int(creator.max(initial=0)) + 1, -1, dtype=np.int64)
    hit = np.flatnonzero(found >= 0)
    account[shown[found[hit]]] = users[hit]
    return np.where(creator >= 0, account[np.maximum(creator, 0)], -1).astype(np.int64)


def _standing(
    light: _Light,
    event_pool: npt.NDArray[np.int64],
    owners: npt.NDArray[np.int64] | None,
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64]:
    """``event_pool`` without the pools of fewer than ``min_accounts`` accounts (their events -1) that are
    no engagement pod (``_pod``; ``owners``: per post its creator's account, None: none known): under
    the floor a pool is never reported, and its book would widen it from too little evidence."""
    hit = (event_pool >= 0) & light.ok
    if not hit.any():
        return event_pool
    n_pools = int(event_pool.max()) + 1
    pools = distinct(light.users[hit] * n_pools + event_pool[hit]) % n_pools
    small = np.flatnonzero(np.bincount(pools, minlength=n_pools) < params.min_accounts)
    out = event_pool.copy()
    for pool in small:
        events = hit & (event_pool == pool)
        if owners is None or not _pod(light, events, owners, params=params):
            out[event_pool == pool] = -1
    return out


def _pod(
    light: _Light, events: npt.NDArray[np.bool_], owners: npt.NDArray[np.int64], *, params: PoolParams
) -> bool:
    """Whether at least ``book_floor_pod_share`` of the pool's creator units have a creator whose own
    account engaged the pool's posts of another unit: an engagement pod (creators and their alts on each
    other's posts), whose alts alone may be a handful; an audience's creators seldom engage each other."""
    posts = distinct(light.posts[events])
    units = light.unit[posts]
    on = np.zeros(len(light.unit), dtype=bool)
    on[posts] = True
    seen = light.ok & on[np.maximum(light.posts, 0)]
    own = owners[posts] >= 0
    unit_of_owner = pd.Series(units[own], index=owners[posts][own])
    unit_of_owner = unit_of_owner[~unit_of_owner.index.duplicated()]
    user, post = light.users[seen], light.posts[seen]
    owner_unit = unit_of_owner.reindex(user).to_numpy()
    elsewhere = ~np.isnan(owner_unit) & (owner_unit != light.unit[post])
    mutual = np.unique(owner_unit[elsewhere])
    return bool(len(mutual) >= params.book_floor_pod_share * len(np.unique(units)))
