"""Lockstep groups, step 3: MinHash LSH buckets of windows with overlapping audiences (the seeds)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.lockstep._index import _Engagements, _IntArray, _Tokens


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser: a fixed, well-spread bijection on 64-bit integers."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _seeds(
    tokens: _Tokens, eng: _Engagements, *, n_bands: int, rows_per_band: int, seed: int
) -> list[_IntArray]:
    """LSH buckets of windows with similar audiences that span two or more posts."""
    n_tokens = len(tokens.post)
    if n_tokens < 2:
        return []
    users = eng.user[tokens.rows]
    user_ids = np.arange(len(eng.user_ptr) - 1, dtype=np.uint64)
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
