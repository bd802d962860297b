"""Lockstep groups, steps 1-2: engagements as integer arrays with CSR indexes, and window tokens."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.lockstep._params import LockstepParams
from features.arrays import csr_index, distinct_inverse, stable_order

_IntArray = npt.NDArray[np.int64]
_FloatArray = npt.NDArray[np.float64]


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class LockstepChance:
    """What lockstep measures against the window: where its window grid starts, how much it holds."""

    t0_us: int  # the window's first engagement time: the origin of the (post, window) grid
    engagements: int  # the window's engagements (account, post): the chance test's denominator


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
    user_ids: pd.Index  # per account code: its id (the codes are the ids' sorted ranks)
    user_ptr: _IntArray
    post_ptr: _IntArray
    post_rows: _IntArray
    n_window: int  # engagements of the whole window: these, or the window's this is a shard of


def lockstep_chance(events: pd.DataFrame) -> LockstepChance | None:
    """The window statistics lockstep reads (None: no usable engagement).

    A window split with each post in one part has the least of its parts' ``t0_us`` and
    the sum of their ``engagements`` (``detectors.chance``).
    """
    eng = _engagements(events, None)
    return None if eng is None else LockstepChance(eng.t0_us, len(eng.user))


def _engagements(
    events: pd.DataFrame, posts: pd.DataFrame | None, chance: LockstepChance | None = None
) -> _Engagements | None:
    """Collapse events to one engagement per (user, post) at its first time.

    With ``chance`` (the whole window's, for a shard of it) times count from the window's
    first engagement, and the chance test divides by the window's engagements.
    """
    if len(events) == 0:
        return None
    user, user_ids = pd.factorize(events["user_id"], sort=True)  # sorted: row order cannot matter
    post, post_ids = pd.factorize(events["post_id"], sort=True)
    ts = pd.to_datetime(events["ts"], utc=True)
    t_us = ts.dt.as_unit("us").astype("int64").to_numpy()
    ok = (user >= 0) & (post >= 0) & ts.notna().to_numpy()
    if not ok.any():
        return None
    t0_us = int(t_us[ok].min()) if chance is None else chance.t0_us
    key = np.where(ok, user.astype(np.int64) * len(post_ids) + post, -1)
    order = stable_order(key)
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
    post_ptr, post_rows = csr_index(ep, len(post_ids))
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
        pd.Index(user_ids),
        csr_index(eu, int(user.max()) + 1)[0],
        post_ptr,
        post_rows,
        len(first) if chance is None else chance.engagements,
    )


@dataclass(frozen=True)
class _Tokens:
    """Windows (post, bucket) with enough accounts, as a CSR index to engagements."""

    of_row: _IntArray  # (n_engagements, 2): token per grid, -1 when too small
    post: _IntArray
    ptr: _IntArray
    rows: _IntArray
    min_size: int


def _tokens(eng: _Engagements, params: LockstepParams) -> _Tokens:
    """Bucket engagements into (post, window) tokens on two half-shifted grids."""
    bucket = np.floor(eng.t_s / params.window_s).astype(np.int64)
    shifted = np.floor(eng.t_s / params.window_s + 0.5).astype(np.int64)
    stride = 2 * (int(bucket.max()) + 2)
    raw = np.stack([eng.post * stride + 2 * bucket, eng.post * stride + 2 * shifted + 1], axis=1)
    uniq, inverse, counts = distinct_inverse(raw.ravel())
    min_size = max(2, params.min_accounts // 2)
    keep = counts >= min_size
    of_row = np.where(keep, np.cumsum(keep) - 1, -1)[inverse].reshape(raw.shape)
    flat = of_row.ravel()
    valid = np.flatnonzero(flat >= 0)
    ptr, order = csr_index(flat[valid], int(keep.sum()))
    return _Tokens(of_row, uniq[keep] // stride, ptr, valid[order] // 2, min_size)
