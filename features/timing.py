"""Engagement-timing features: publication and reaction times, bursts, hour of day, action triples.

Pure functions over a window of engagements (one row per distinct engagement);
per-event arrays are aligned with the input's row order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.arrays import codes, distinct_inverse, equals, is_in

CHINA_UTC_OFFSET_H = 8
TRIPLE_ACTIONS = ("like", "favorite", "comment")


def _seconds(ts: pd.Series) -> npt.NDArray[np.float64]:
    """UTC timestamps as float seconds since the epoch."""
    return ts.to_numpy(dtype="datetime64[us]").astype(np.int64) / 1e6


def publication_times(engagements: pd.DataFrame, posts: pd.DataFrame | None = None) -> pd.Series:
    """Per post_id: when it was published (posts file), else its first engagement."""
    first = engagements.groupby("post_id", observed=True)["ts"].min()
    if posts is None or posts.empty or "published_at" not in posts:
        return first
    given = posts.drop_duplicates("post_id").set_index("post_id")["published_at"]
    given = given.reindex(first.index).fillna(first)
    return given.where(given <= first, first)


def reaction_s(engagements: pd.DataFrame, published_at: pd.Series) -> npt.NDArray[np.float64]:
    """Per event: seconds since its post was published (>= 0)."""
    published = published_at.reindex(engagements["post_id"])
    return np.maximum(_seconds(engagements["ts"]) - _seconds(published.reset_index(drop=True)), 0.0)


def china_hour(engagements: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Per event: hour of day in China time (UTC+8)."""
    hours = (_seconds(engagements["ts"]) // 3600).astype(np.int64)
    return (hours + CHINA_UTC_OFFSET_H) % 24


def burst_excess(
    engagements: pd.DataFrame,
    *,
    bin_s: float,
    context_s: float,
    min_bin_events: int,
    min_expected_events: float,
) -> npt.NDArray[np.float64]:
    """Per event: the share of its post's time bin that exceeds the post's surrounding rate.

    Each post's engagements are binned (``bin_s``); a bin's expected count is the
    mean of the bins within ``context_s`` on either side, excluding itself, and no
    less than the larger side's mean so that the first minutes after publication
    (nothing before them) are not mistaken for a burst, and no less than
    ``min_expected_events`` so that a quiet post's first handful is not all surplus.
    The result, ``max(0, 1 - expected / count)`` for bins of at least
    ``min_bin_events`` events, is the probability that an event there is surplus
    to the post's own rhythm: high for an injected lockstep burst, low inside an
    organic rise such as a viral pickup.
    """
    n = len(engagements)
    if n == 0:
        return np.zeros(0)
    post_codes = codes(engagements["post_id"])
    t = _seconds(engagements["ts"])
    bins = np.floor(t / bin_s).astype(np.int64)
    first_bin = int(bins.min())
    # (post, bin) as one sorted integer key; posts stay apart by far more than ``k`` bins
    key = post_codes * (1 << 40) + (bins - first_bin)
    # one sort: the distinct keys, each event's key among them and how often each occurs
    keys, at, counts = distinct_inverse(key)
    k = max(round(context_s / bin_s), 1)
    n_arr = counts.astype(np.float64)
    cum = np.concatenate([[0.0], np.cumsum(n_arr)])

    def _window_sum(lo_off: int, hi_off: int) -> npt.NDArray[np.float64]:
        # events of the same post in bins [bin + lo_off, bin + hi_off]
        lo = np.searchsorted(keys, keys + lo_off, side="left")
        hi = np.searchsorted(keys, keys + hi_off, side="right")
        return cum[hi] - cum[lo]

    left = _window_sum(-k, -1) / k
    right = _window_sum(1, k) / k
    expected = np.maximum((left + right) / 2, np.maximum(left, right) / 2)
    expected = np.maximum(expected, min_expected_events)
    excess = np.where(n_arr >= min_bin_events, np.clip(1.0 - expected / n_arr, 0.0, 1.0), 0.0)
    return np.asarray(excess[at], dtype=np.float64)


def action_triples(engagements: pd.DataFrame, *, within_s: float) -> npt.NDArray[np.bool_]:
    """Per event: part of a like + favorite + comment by one account on one post within ``within_s``."""
    n = len(engagements)
    is_triple_action = is_in(engagements["action"], TRIPLE_ACTIONS)
    if not is_triple_action.any():
        return np.zeros(n, dtype=bool)
    idx = np.flatnonzero(is_triple_action)
    users = codes(engagements["user_id"])[idx]
    posts = codes(engagements["post_id"])[idx]
    pair = users * (posts.max() + 1) + posts
    uniques, pair_codes, _ = distinct_inverse(pair)
    t = _seconds(engagements["ts"])[idx]
    t_min = np.full(len(uniques), np.inf)
    t_max = np.full(len(uniques), -np.inf)
    np.minimum.at(t_min, pair_codes, t)
    np.maximum.at(t_max, pair_codes, t)
    action_bit = np.select(
        [equals(engagements["action"], a)[idx] for a in TRIPLE_ACTIONS], [1, 2, 4], default=0
    )
    kinds = np.zeros(len(uniques), dtype=np.int64)
    np.bitwise_or.at(kinds, pair_codes, action_bit)
    is_triple = (kinds == 7) & (t_max - t_min <= within_s)
    out = np.zeros(n, dtype=bool)
    out[idx] = is_triple[pair_codes]
    return out
