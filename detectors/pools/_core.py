"""A pool's core: membership judged again without the posts whose crowd dilutes it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.pools._chance import _Audiences
from detectors.pools._params import PoolParams
from detectors.pools._search import _Light, _members
from features.arrays import distinct, in_sorted


def _core_members(
    light: _Light,
    book_pool: npt.NDArray[np.int64],
    found: npt.NDArray[np.int64],
    n_pools: int,
    unit_community: npt.NDArray[np.int64],
    *,
    params: PoolParams,
    given: _Audiences,
) -> npt.NDArray[np.int64]:
    """Sorted member keys ``user * (n_pools + 1) + pool`` (as ``_members``) of each pool judged on its core:
    its posts (``book_pool``, per post) less those where its accounts (``found``, keys) are under
    ``book_core_max_share`` of the light engagers (``_diluting``). Empty where no pool has such a post.

    A seller fills an order on a popular post with a small share of the post's crowd. The crowd's light
    accounts count as the pool's honest engagement, so that one post raises the chance that membership
    counts against (each account's creators landing in the pool) for every account of the pool, the
    seller's accounts that never engaged the post too. The post holds little of the evidence (its
    engagers are mostly not the pool's) and much of the chance: judged without it, the pool's other
    posts show their accounts' co-engagement against the chance of those posts alone. An account that
    engaged the post counts one creator fewer there, so the core adds members and the pool as a whole
    keeps its own (the caller takes the union).
    """
    core = _without_diluting(light, book_pool, found, n_pools, params=params)
    if core is None:
        return np.zeros(0, dtype=np.int64)
    return _members(
        light.pair_user,
        light.unit[light.pair_post],
        core[light.pair_post],
        n_pools,
        unit_community,
        params=params,
        given=given,
        platform_degree=light.user_units,
        creators=light.creators,
        served=params.served_outside,
    )


def _without_diluting(
    light: _Light,
    book_pool: npt.NDArray[np.int64],
    found: npt.NDArray[np.int64],
    n_pools: int,
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64] | None:
    """Per post its pool (``book_pool``) or -1 where the post dilutes it (``_diluting``); None when no
    pool keeps posts of ``min_creators`` creator units or more after dropping one."""
    diluting = _diluting(light, book_pool, found, n_pools, params=params)
    if not diluting.any():
        return None
    core = np.where(diluting, -1, book_pool)
    held = core >= 0
    width = int(light.unit.max()) + 1
    units = distinct(core[held] * width + light.unit[held]) // width
    n_units = np.bincount(units, minlength=n_pools)
    touched = np.zeros(n_pools, dtype=bool)
    touched[book_pool[diluting]] = True
    keep = touched & (n_units >= params.min_creators)
    if not keep.any():
        return None
    # only the pools that lost a post are judged again
    return np.where((core >= 0) & keep[np.maximum(core, 0)], core, -1)


def _diluting(
    light: _Light,
    book_pool: npt.NDArray[np.int64],
    found: npt.NDArray[np.int64],
    n_pools: int,
    *,
    params: PoolParams,
) -> npt.NDArray[np.bool_]:
    """Per post: in a pool (``book_pool``) whose accounts (``found`` keys) are fewer than
    ``book_core_max_share`` of its light engagers, while other posts of the pool have at least that share
    (a pool whose every post is mostly a crowd has no core to judge), and with at least
    ``book_core_min_popularity`` times the light engagers of the most popular of those: a crowd is what
    makes a post dilute, and a post no larger than the core's holds no more chance than they do."""
    n_posts = len(book_pool)
    pool = book_pool[light.pair_post]
    on = pool >= 0
    mine = on & in_sorted(light.pair_user * (n_pools + 1) + np.maximum(pool, 0), found)
    engagers = np.bincount(light.pair_post[on], minlength=n_posts).astype(np.float64)
    accounts = np.bincount(light.pair_post[mine], minlength=n_posts).astype(np.float64)
    share = accounts / np.maximum(engagers, 1.0)
    held = book_pool >= 0
    low = held & (share < params.book_core_max_share)
    strong = held & ~low
    # per pool: the light engagers of its most popular post that is mostly its own (0: none)
    top = np.zeros(n_pools)
    np.maximum.at(top, book_pool[strong], engagers[strong])
    of_pool = top[np.maximum(book_pool, 0)]
    crowd = engagers >= params.book_core_min_popularity * of_pool
    return np.asarray(low & (of_pool > 0) & crowd, dtype=bool)
