"""Lockstep groups, step 3: MinHash LSH buckets of windows with overlapping audiences (the seeds)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pandas.util import hash_array

from detectors.lockstep._index import _Engagements, _IntArray, _Tokens


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser: a fixed, well-spread bijection on 64-bit integers."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _account_keys(eng: _Engagements, *, hash_ids: bool) -> npt.NDArray[np.uint64]:
    """Per account code: the key its MinHash values are drawn from.

    With ``hash_ids`` a 64-bit hash of the account id (pandas' ``hash_array``, fixed key: the same in
    every process and for object, string or categorical ids), so an account has one key whichever
    rows hold it; else its code, its rank among the accounts of these rows.
    """
    if not hash_ids:
        return np.arange(len(eng.user_ptr) - 1, dtype=np.uint64)
    # as Python strings: one path for every storage (a categorical's own would hash all its categories);
    # the ids are distinct, so categorize=False skips a factorisation that would find nothing to share
    ids = eng.user_ids.to_numpy(dtype=object)
    return np.asarray(hash_array(ids, categorize=False), dtype=np.uint64)


def _seeds(
    tokens: _Tokens,
    eng: _Engagements,
    *,
    n_bands: int,
    rows_per_band: int,
    seed: int,
    hash_ids: bool,
) -> list[_IntArray]:
    """LSH buckets of windows with similar audiences that span two or more posts."""
    n_tokens = len(tokens.post)
    if n_tokens < 2:
        return []
    users = eng.user[tokens.rows]
    user_ids = _account_keys(eng, hash_ids=hash_ids)
    found: dict[bytes, _IntArray] = {}
    for band in range(n_bands):
        key = np.zeros(n_tokens, dtype=np.uint64)
        for row in range(rows_per_band):
            salt = np.uint64(
                ((seed * n_bands + band) * rows_per_band + row + 1) * 0x9E3779B97F4A7C15 % (1 << 64)
            )
            key = _mix(key ^ np.minimum.reduceat(_mix(user_ids ^ salt)[users], tokens.ptr[:-1]))
        order = np.lexsort((tokens.post, key))
        k, p = key[order], tokens.post[order]
        new_key = np.r_[True, k[1:] != k[:-1]]
        cut = np.flatnonzero(new_key)
        n_posts = np.add.reduceat((new_key | np.r_[True, p[1:] != p[:-1]]).astype(np.int64), cut)
        ends = np.r_[cut[1:], n_tokens]
        for i in np.flatnonzero(n_posts >= 2):
            members = np.sort(order[cut[i] : ends[i]])
            found.setdefault(members.tobytes(), members)
    return list(found.values())
