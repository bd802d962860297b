"""Lockstep groups, step 1-3: engagements as integer arrays, window tokens and MinHash seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

_IntArray = npt.NDArray[np.int64]
_FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Options:
    window_s: float
    min_accounts: int
    min_posts: int
    honest_delay_s: float
    q: float
    onset_s: float
    q_onset: float
    min_post_log10: float
    min_account_log10: float
    core_share: float


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class _Engagements:
    """First event per (account, post), sorted by account, and CSR indexes over it."""

    user: _IntArray
    post: _IntArray
    t_s: _FloatArray  # seconds since t0_us
    t0_us: int
    post_onset_s: _FloatArray  # per post: publication, or its first engagement
    event_row: _IntArray  # per input event: its engagement row, -1 if unusable
    creator: _IntArray  # per post
    post_ids: npt.NDArray[np.object_]
    user_ptr: _IntArray
    post_ptr: _IntArray
    post_rows: _IntArray


def _engagements(events: pd.DataFrame, posts: pd.DataFrame | None) -> _Engagements | None:
    """Collapse events to one engagement per (user, post) at its first time."""
    if len(events) == 0:
        return None
    user, _ = pd.factorize(events["user_id"], sort=True)  # sorted: row order cannot matter
    post, post_ids = pd.factorize(events["post_id"], sort=True)
    ts = pd.to_datetime(events["ts"], utc=True)
    t_us = ts.dt.as_unit("us").astype("int64").to_numpy()
    ok = (user >= 0) & (post >= 0) & ts.notna().to_numpy()
    if not ok.any():
        return None
    t0_us = int(t_us[ok].min())
    key = np.where(ok, user.astype(np.int64) * len(post_ids) + post, -1)
    order = np.argsort(key, kind="stable")
    order = order[key[order] >= 0]
    sorted_key = key[order]
    is_first = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    starts = np.flatnonzero(is_first)
    event_row = np.full(len(events), -1, dtype=np.int64)
    event_row[order] = np.cumsum(is_first) - 1
    first = order[starts]
    creator = np.zeros(len(post_ids), dtype=np.int64)
    creator[post[ok]] = pd.factorize(events["creator_id"], sort=True)[0][ok]
    eu, ep = user[first].astype(np.int64), post[first].astype(np.int64)
    post_ptr, post_rows = _csr(ep, len(post_ids))
    t_s = (np.minimum.reduceat(t_us[order], starts) - t0_us).astype(np.float64) / 1e6
    onset_s = np.full(len(post_ids), np.inf)
    np.minimum.at(onset_s, ep, t_s)
    if posts is not None and len(posts):
        published = pd.to_datetime(posts["published_at"], utc=True).dt.as_unit("us").astype("int64")
        at = pd.Index(post_ids).get_indexer(posts["post_id"])
        known = (at >= 0) & posts["published_at"].notna().to_numpy()
        np.minimum.at(onset_s, at[known], (published.to_numpy()[known] - t0_us) / 1e6)
    return _Engagements(
        eu,
        ep,
        t_s,
        t0_us,
        onset_s,
        event_row,
        creator,
        np.asarray(post_ids, dtype=object),
        _csr(eu, int(user.max()) + 1)[0],
        post_ptr,
        post_rows,
    )


def _csr(keys: _IntArray, n_keys: int) -> tuple[_IntArray, _IntArray]:
    """Row index grouped by key: rows of key k are ``rows[ptr[k]:ptr[k + 1]]``."""
    rows = np.argsort(keys, kind="stable").astype(np.int64)
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys), out=ptr[1:])
    return ptr, rows


def _unique(x: _IntArray) -> tuple[_IntArray, _IntArray, _IntArray]:
    """Sorted distinct values, inverse map and counts (sort-based: fast on wide int keys)."""
    order = np.argsort(x, kind="stable")
    s = x[order]
    is_new = np.r_[True, s[1:] != s[:-1]] if len(s) else np.zeros(0, dtype=bool)
    inverse = np.empty(len(x), dtype=np.int64)
    inverse[order] = np.cumsum(is_new) - 1
    starts = np.flatnonzero(is_new)
    return s[starts], inverse, np.diff(np.r_[starts, len(s)]).astype(np.int64)


def _compact(x: _IntArray, n_values: int) -> tuple[_IntArray, _IntArray]:
    """Distinct values of codes below n_values and the inverse map, in O(len + n_values)."""
    present = np.zeros(n_values, dtype=bool)
    present[x] = True
    local = np.cumsum(present) - 1
    return np.flatnonzero(present), local[x]


def _sums(codes: _IntArray, weights: npt.ArrayLike, n_codes: int) -> _FloatArray:
    """Per code, the sum of the weights (np.bincount, typed as float)."""
    return np.bincount(codes, weights=weights, minlength=n_codes).astype(np.float64)


def _distinct(x: _IntArray) -> _IntArray:
    """Sorted distinct values."""
    s = np.sort(x)
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def _ranges(ptr: _IntArray, keys: _IntArray) -> _IntArray:
    """Concatenated positions ``ptr[k]:ptr[k + 1]`` of several keys, without a Python loop."""
    starts, lens = ptr[keys], ptr[keys + 1] - ptr[keys]
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total)


def _gather(ptr: _IntArray, rows: _IntArray, keys: _IntArray) -> _IntArray:
    """Concatenated rows of several keys of a CSR index."""
    return rows[_ranges(ptr, keys)]


@dataclass(frozen=True)
class _Tokens:
    """Windows (post, bucket) with enough accounts, as a CSR index to engagements."""

    of_row: _IntArray  # (n_engagements, 2): token per grid, -1 when too small
    post: _IntArray
    ptr: _IntArray
    rows: _IntArray
    min_size: int


def _tokens(eng: _Engagements, opts: _Options) -> _Tokens:
    """Bucket engagements into (post, window) tokens on two half-shifted grids."""
    bucket = np.floor(eng.t_s / opts.window_s).astype(np.int64)
    shifted = np.floor(eng.t_s / opts.window_s + 0.5).astype(np.int64)
    stride = 2 * (int(bucket.max()) + 2)
    raw = np.stack([eng.post * stride + 2 * bucket, eng.post * stride + 2 * shifted + 1], axis=1)
    uniq, inverse, counts = _unique(raw.ravel())
    min_size = max(2, opts.min_accounts // 2)
    keep = counts >= min_size
    of_row = np.where(keep, np.cumsum(keep) - 1, -1)[inverse].reshape(raw.shape)
    flat = of_row.ravel()
    valid = np.flatnonzero(flat >= 0)
    ptr, order = _csr(flat[valid], int(keep.sum()))
    return _Tokens(of_row, uniq[keep] // stride, ptr, valid[order] // 2, min_size)


# --------------------------------------------------------------------------- seeds


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
