"""Links by contrast: post pairs above chance whose posts co-engage the rest of the platform below it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.pools._params import PoolParams


def contrast_links(
    a: npt.NDArray[np.int64],
    b: npt.NDArray[np.int64],
    effect: npt.NDArray[np.float64],
    n_posts: int,
    *,
    params: PoolParams,
) -> npt.NDArray[np.bool_]:
    """Per candidate pair (``a``, ``b``, its ``effect``: lift beyond the overlap): it reaches
    ``contrast_min_lift`` and both its posts' baselines (``post_baselines``) are at most
    ``contrast_max_base``; all False when ``contrast_min_lift`` is 0.

    A seller fills each order with a share of one pool of accounts that engage nothing but its orders. On a
    client's popular post those accounts are a third to a half of the light engagers, so the post shares
    accounts with the seller's other orders at a few times chance and with every other post below chance:
    its engagers are, for that part, nobody else's. An honest post's light engagers are fans who engage
    their community's other posts too, and a popular post's co-engage them at chance or above (activity
    and taste make popular posts' fans overlap). The pair's significance is the caller's."""
    if params.contrast_min_lift <= 0 or not len(a):
        return np.zeros(len(a), dtype=bool)
    base = post_baselines(a, b, effect, n_posts, min_pairs=params.contrast_min_pairs)
    low = base <= params.contrast_max_base
    return np.asarray((effect >= params.contrast_min_lift) & low[a] & low[b], dtype=bool)


def post_baselines(
    a: npt.NDArray[np.int64],
    b: npt.NDArray[np.int64],
    effect: npt.NDArray[np.float64],
    n_posts: int,
    *,
    min_pairs: int,
) -> npt.NDArray[np.float64]:
    """Per post: the median effect of the candidate pairs it is in (``a``, ``b``, ``effect``); infinite
    for a post in fewer than ``min_pairs`` of them (too few to say how it co-engages the platform)."""
    ends = np.concatenate([a, b])
    values = np.concatenate([effect, effect])
    order = np.lexsort((values, ends))
    ends, values = ends[order], values[order]
    post = np.arange(n_posts)
    start, stop = np.searchsorted(ends, post), np.searchsorted(ends, post, side="right")
    count = stop - start
    out = np.full(n_posts, np.inf)
    has = count >= max(min_pairs, 1)
    low, high = start[has] + (count[has] - 1) // 2, start[has] + count[has] // 2
    out[has] = 0.5 * (values[low] + values[high])
    return out
