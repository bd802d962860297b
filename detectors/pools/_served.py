"""A creator the pool served whose order links to nothing: its one-short accounts show it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.pools._params import PoolParams
from features.arrays import distinct, distinct_counts, in_sorted


def _served_outside(
    keys: npt.NDArray[np.int64],
    k: npt.NDArray[np.int64],
    degree: npt.NDArray[np.int64],
    unexplained: npt.NDArray[np.bool_],
    triples: npt.NDArray[np.int64],
    user_creator: npt.NDArray[np.int64],
    width: int,
    n_pools: int,
    *,
    params: PoolParams,
) -> npt.NDArray[np.bool_]:
    """Per (account, pool) key of ``_members``: chance does not explain it and its one creator outside
    the pool is one the pool served, in an order no link ties to the pool.

    An order on a star's post links to nothing (any account is likely to engage the star), so the star
    stays outside the pool; each pool account it served holds one creator outside the pool, under the
    member share (2 of 3). Such one-short accounts of a pool that chance does not explain (``unexplained``)
    are the pool's when most of them (``served_min_share``) share that outside creator, far beyond the
    rate at which light accounts engage it (``book_min_lift`` times, Poisson tail at ``max_p_value``,
    Bonferroni over the creators tested): a served order, not an audience's spread.
    """
    from scipy.special import pdtrc  # lazy: scipy.special costs import time

    key_user, key_pool = keys // (n_pools + 1), keys % (n_pools + 1)
    short = unexplained & (k >= params.min_creators) & (k == degree[key_user] - 1)
    out = np.zeros(len(keys), dtype=bool)
    if not short.any():
        return out
    pool_creator = distinct((triples // width) % (n_pools + 1) * width + triples % width)
    # the short accounts' creators outside their pool: (key, creator) of their user_creator keys
    start = np.searchsorted(user_creator // width, key_user[short])
    stop = np.searchsorted(user_creator // width, key_user[short], side="right")
    lengths = stop - start
    rows = np.repeat(np.flatnonzero(short), lengths)
    # each short account's run of keys: its start, then one on per key
    at = np.repeat(start - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
    creator = user_creator[at] % width
    outside = ~in_sorted(key_pool[rows] * width + creator, pool_creator)
    rows, creator = rows[outside], creator[outside]
    cell, count = distinct_counts(key_pool[rows] * width + creator)
    n_short = np.bincount(key_pool[short], minlength=n_pools + 1)
    n_light = len(distinct(user_creator // width))
    rate = np.bincount(user_creator % width, minlength=width) / max(n_light, 1)
    expected = n_short[cell // width] * rate[cell % width]
    p_value = pdtrc(count - 1, np.maximum(expected, 1e-12))
    served = (
        (count >= params.min_shared_accounts)
        & (count >= params.served_min_share * n_short[cell // width])
        & (count >= params.book_min_lift * expected)
        & (p_value <= params.max_p_value / max(len(cell), 1))
    )
    out[rows[in_sorted(key_pool[rows] * width + creator, cell[served])]] = True
    return out
