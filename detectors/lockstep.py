"""Lockstep groups: accounts that engage the same posts in the same short windows, repeatedly.

CopyCatch / SynchroTrap style, in near-linear time and memory:

1. Events become engagements: one per (account, post), at its first event.
2. Each engagement gives two tokens (post, window bucket) on grids offset by half a
   window, so a burst shorter than half a window sits inside one bucket.  Tokens
   with fewer than ``min_accounts // 2`` accounts cannot host a group.
3. MinHash signatures of each token's account set (numpy, fixed seeds) and LSH
   bands put windows with overlapping audiences into buckets; a bucket spanning two
   or more posts is a seed.  A viral window is one token, never a quadratic set of
   account pairs, and each band partitions the tokens, so seeding and the
   vectorised seed screening cost ``n_bands`` times the number of engagements.
4. Seeds whose core fills their windows are grown (purest first) into accounts that
   share ``min_posts`` of the core's windows, then tested:

   - timing, per post (binomial): is the group tighter than an honest crowd reacting
     to one trigger can be?  A crowd with exponential delays of mean ``d`` puts at
     most ``1 - exp(-window_s / d)`` of itself in one window: ``d = fan_delay_s``
     for windows at the post's publication (fans), ``honest_delay_s`` otherwise.
     An account counts on a post only if it qualifies on the *other* posts, so
     choosing members through the post does not bias its test.
   - chance, per account (Poisson): is its presence in the group's windows more
     than its activity explains, given how popular the posts are without the group
     and how many of their other engagers fall in the same windows?

   Fan clubs fail the timing test, heavy honest users the chance test, and a viral
   burst is one post.  Accepted groups are regrown from their members, and groups
   that share accounts are merged, so one farm is one group.
5. A passing account's engagements on passing posts within a window of the burst
   are flagged, and all events of a flagged engagement share its score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse, stats
from scipy.sparse import csgraph

from detectors.base import Detection

NAME = "lockstep"

_IntArray = npt.NDArray[np.int64]
_FloatArray = npt.NDArray[np.float64]
_BoolArray = npt.NDArray[np.bool_]
_LN10 = float(np.log(10.0))
_EXPLORED_SHARE = 0.7  # skip a core this much made of accounts whose cores did not grow
_MERGE_OVERLAP = 0.2  # groups sharing this share of the smaller one's accounts are one
_PRIOR_WEIGHT = 5.0  # pseudo-engagements pulling a post's background rate toward q
_MAX_LOG10 = 300.0
_GROUP_COLUMNS = {
    "group_id": "int64",
    "n_accounts": "int64",
    "n_posts": "int64",
    "n_creators": "int64",
    "n_events": "int64",
    "window_s": "float64",
    "median_spread_s": "float64",
    "weakest_post_log10": "float64",
    "first_ts": "datetime64[us, UTC]",
    "last_ts": "datetime64[us, UTC]",
    "post_ids": "object",
    "evidence": "string",
}


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


def lockstep_groups(
    events: pd.DataFrame,
    *,
    window_s: float = 300.0,
    min_accounts: int = 10,
    min_posts: int = 2,
    honest_delay_s: float = 480.0,
    onset_s: float = 1800.0,
    fan_delay_s: float = 180.0,
    posts: pd.DataFrame | None = None,
    min_post_log10: float = 3.0,
    min_account_log10: float = 4.0,
    core_share: float = 0.1,
    n_bands: int = 8,
    rows_per_band: int = 2,
    seed: int = 0,
) -> Detection:
    """Score engagements made in lockstep: same posts, same short windows, repeatedly.

    Parameters
    ----------
    events:
        One row per engagement with ``user_id``, ``post_id``, ``creator_id`` and a
        tz-aware ``ts``; other columns are ignored, the frame is not modified, and
        rows with a missing id or time are never flagged.
    window_s:
        Width of a synchronized window; bot bursts last a few minutes.
    min_accounts, min_posts:
        Smallest group: accounts, and the windows (posts) each account must share.
    honest_delay_s:
        Mean reaction delay of the fastest honest crowd to protect at any time (a
        re-share, a push).  Fixes the share of a crowd one window holds by chance.
    onset_s, fan_delay_s:
        A window starting within ``onset_s`` of the post's publication is judged
        against fans, who may react as fast as a mean ``fan_delay_s``: at onset
        only a group far tighter and larger than a fan club counts.
    posts:
        Optional ``post_id``/``published_at`` table.  Publication is the earlier of
        ``published_at`` and the post's first engagement in ``events``; without the
        table a quiet post whose first engagements are the burst is judged at onset.
    min_post_log10, min_account_log10:
        -log10 p thresholds of the per-post timing and per-account chance tests.
    core_share:
        Share of a seed's core that must sit in a window for the window to join.
    n_bands, rows_per_band, seed:
        MinHash LSH layout and its hash seed; fixed, so results are deterministic
        and do not depend on the row order of ``events``.

    Returns
    -------
    Detection
        ``name="lockstep"``.  ``event_score`` is 0 outside groups and
        ``1 - 0.5 ** z`` inside, with z >= 1 the weaker test's evidence in units of
        its threshold (0.5 at the threshold, 0.75 at twice, ...).  ``groups`` has
        group_id, n_accounts, n_posts, n_creators, n_events, window_s,
        median_spread_s, weakest_post_log10, first_ts, last_ts, post_ids, evidence.
    """
    if min(window_s, honest_delay_s, fan_delay_s, min_post_log10, min_account_log10) <= 0:
        raise ValueError("window_s, the delays and the log10 thresholds must be positive")
    if min_accounts < 2 or min_posts < 2 or n_bands < 1 or rows_per_band < 1:
        raise ValueError("min_accounts and min_posts must be >= 2, n_bands and rows_per_band >= 1")
    opts = _Options(
        float(window_s),
        int(min_accounts),
        int(min_posts),
        float(honest_delay_s),
        float(-np.expm1(-window_s / honest_delay_s)),
        float(onset_s),
        float(-np.expm1(-window_s / fan_delay_s)),
        float(min_post_log10),
        float(min_account_log10),
        float(core_share),
    )
    eng = _engagements(events, posts)
    if eng is None:
        return _nothing(len(events))
    tokens = _tokens(eng, opts)
    seeds = _seeds(tokens, eng, n_bands=n_bands, rows_per_band=rows_per_band, seed=seed)
    found = _merge(_verify_all(seeds, tokens, eng, opts), eng)
    if not found:
        return _nothing(len(events))
    return _detection(found, eng, opts)


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


# --------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class _Group:
    """A verified group: flagged engagement rows and per-post evidence."""

    rows: _IntArray
    strength: _FloatArray  # per row: weaker evidence in units of its threshold (>= 1)
    posts: _IntArray
    post_log10: _FloatArray


def _verify_all(seeds: list[_IntArray], tokens: _Tokens, eng: _Engagements, opts: _Options) -> list[_Group]:
    """Grow and test seeds, purest first, skipping cores that were already explained.

    A core mostly made of accounts already in accepted groups, or in cores that did
    not grow or failed the tests, would only repeat that work.
    """
    n_users = len(eng.user_ptr) - 1
    claimed, explored = np.zeros(n_users, dtype=bool), np.zeros(n_users, dtype=bool)
    tested: set[bytes] = set()
    groups: list[_Group] = []
    cores, purity = _cores(seeds, tokens, eng, opts)
    for i in np.lexsort((np.arange(len(cores)), -purity)):
        core = cores[i]
        if (
            len(core) < opts.min_accounts
            or claimed[core].mean() >= 0.5
            or explored[core].mean() >= _EXPLORED_SHARE
        ):
            continue
        grown = _grow(core, tokens, eng, opts)
        if grown is None:
            explored[core] = True
            continue
        if grown[1].tobytes() in tested:
            continue
        tested.add(grown[1].tobytes())
        group = _test(grown[0], grown[1], eng, opts)
        if group is None:
            explored[core] = True
            continue
        group = _refine(group, tokens, eng, opts)
        claimed[eng.user[group.rows]] = True
        groups.append(group)
    return groups


def _refine(group: _Group, tokens: _Tokens, eng: _Engagements, opts: _Options) -> _Group:
    """Regrow a group from its own flagged accounts while that flags more engagements.

    Seeds catch a farm at random corners; restarting from the verified members makes
    the result depend far less on which seed came first.
    """
    for _ in range(2):
        grown = _grow(_distinct(eng.user[group.rows]), tokens, eng, opts)
        if grown is None:
            break
        bigger = _test(grown[0], _distinct(np.concatenate([grown[1], group.posts])), eng, opts)
        if bigger is None or len(bigger.rows) <= len(group.rows):
            break
        group = bigger
    return group


def _merge(groups: list[_Group], eng: _Engagements) -> list[_Group]:
    """Union groups that share accounts: one farm found from several seeds is one group."""
    if len(groups) < 2:
        return groups
    users = [_distinct(eng.user[g.rows]) for g in groups]
    incidence = sparse.csr_matrix(
        (
            np.ones(sum(len(u) for u in users)),
            (np.repeat(np.arange(len(users)), [len(u) for u in users]), np.concatenate(users)),
        ),
        shape=(len(users), len(eng.user_ptr) - 1),
    )
    shared = (incidence @ incidence.T).tocoo()
    sizes = np.array([len(u) for u in users], dtype=np.float64)
    link = shared.data >= _MERGE_OVERLAP * np.minimum(sizes[shared.row], sizes[shared.col])
    adjacency = sparse.coo_matrix(
        (np.ones(int(link.sum())), (shared.row[link], shared.col[link])), shape=shared.shape
    )
    _, label = csgraph.connected_components(adjacency, directed=False)
    return [
        _union([g for g, lab in zip(groups, label, strict=True) if lab == c])
        for c in _distinct(label.astype(np.int64))
    ]


def _union(groups: list[_Group]) -> _Group:
    """One group holding each flagged row and post once, with its strongest evidence."""
    if len(groups) == 1:
        return groups[0]
    rows, strength = np.concatenate([g.rows for g in groups]), np.concatenate([g.strength for g in groups])
    order = np.lexsort((-strength, rows))
    keep = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
    posts, log10 = np.concatenate([g.posts for g in groups]), np.concatenate([g.post_log10 for g in groups])
    by_post = np.lexsort((-log10, posts))
    first = by_post[np.r_[True, posts[by_post][1:] != posts[by_post][:-1]]]
    return _Group(rows[keep], strength[keep], posts[first], log10[first])


def _cores(
    seeds: list[_IntArray], tokens: _Tokens, eng: _Engagements, opts: _Options
) -> tuple[list[_IntArray], _FloatArray]:
    """Per seed, the accounts in its windows on two or more posts, and their share of them.

    The core is empty unless it fills core_share of windows on two posts, as a
    farm's seed does; heavy honest users meeting in busy windows do not, and
    skipping them spares the costly growth.  Computed for all seeds at once.
    """
    if not seeds:
        return [], np.zeros(0)
    n_seeds, n_rows, n_users = len(seeds), len(eng.user), len(eng.user_ptr) - 1
    seed_tokens = np.concatenate(seeds)
    seed_of_token = np.repeat(np.arange(n_seeds, dtype=np.int64), [len(s) for s in seeds])
    token_sizes = np.diff(tokens.ptr)[seed_tokens]
    rows = _gather(tokens.ptr, tokens.rows, seed_tokens)
    row_key = np.repeat(seed_of_token, token_sizes) * n_users + eng.user[rows]
    pairs = _distinct(np.repeat(seed_of_token, token_sizes) * n_rows + rows)
    seed_user, _, n_posts = _unique((pairs // n_rows) * n_users + eng.user[pairs % n_rows])
    kept = seed_user[n_posts >= 2]
    at = np.minimum(np.searchsorted(kept, row_key), max(len(kept) - 1, 0))
    is_core = kept[at] == row_key if len(kept) else np.zeros(len(row_key), dtype=bool)
    in_token = _sums(np.repeat(np.arange(len(seed_tokens)), token_sizes), is_core, len(seed_tokens))
    core_size = np.bincount(kept // n_users, minlength=n_seeds)
    full = in_token >= np.maximum(tokens.min_size, opts.core_share * core_size)[seed_of_token]
    n_post_ids = len(eng.post_ids)
    full_posts = _distinct(seed_of_token[full] * n_post_ids + tokens.post[seed_tokens[full]])
    coherent = np.bincount(full_posts // n_post_ids, minlength=n_seeds) >= 2
    bounds = np.searchsorted(kept // n_users, np.arange(n_seeds + 1))
    user = kept % n_users
    empty = np.zeros(0, dtype=np.int64)
    purity = _sums(np.repeat(seed_of_token, token_sizes), is_core, n_seeds)
    purity /= _sums(seed_of_token, token_sizes, n_seeds)
    cores = [user[bounds[i] : bounds[i + 1]] if coherent[i] else empty for i in range(n_seeds)]
    return cores, purity


def _grow(
    core: _IntArray, tokens: _Tokens, eng: _Engagements, opts: _Options
) -> tuple[_IntArray, _IntArray] | None:
    """Windows a share of the core sits in, and the accounts in min_posts of their posts."""
    n_users = len(eng.user_ptr) - 1
    for _ in range(2):
        tok = tokens.of_row[_ranges(eng.user_ptr, core)].ravel()  # rows are sorted by account
        counts = np.bincount(tok[tok >= 0], minlength=len(tokens.post))
        keep = np.flatnonzero(counts >= max(tokens.min_size, opts.core_share * len(core)))
        posts = _distinct(tokens.post[keep])
        if len(posts) < opts.min_posts:
            return None
        rows = _gather(tokens.ptr, tokens.rows, keep)
        kept = np.zeros(len(tokens.post) + 1, dtype=bool)
        kept[keep] = True
        # An engagement sits in a kept token of each grid at most: count it once.
        grid0 = tokens.of_row[rows, 0]
        once = (grid0 == np.repeat(keep, np.diff(tokens.ptr)[keep])) | ~kept[grid0]
        n_posts = np.bincount(eng.user[rows[once]], minlength=n_users)
        core = np.flatnonzero(n_posts >= opts.min_posts)
        if len(core) < opts.min_accounts:
            return None
    return core, posts


def _densest_windows(post_local: _IntArray, t_s: _FloatArray, n_posts: int, window_s: float) -> _FloatArray:
    """Per post, the start of the window_s-window holding most of the given engagements."""
    start = np.full(n_posts, np.nan)
    if len(t_s) == 0:
        return start
    order = np.lexsort((t_s, post_local))
    p, t = post_local[order], t_s[order]
    key = p * (float(t.max()) + 4 * window_s) + t
    count = np.searchsorted(key, key + window_s, side="right") - np.arange(len(key))
    best = np.lexsort((t, -count, p))
    first = best[np.r_[True, p[best][1:] != p[best][:-1]]]
    start[p[first]] = t[first]
    return start


@dataclass(frozen=True)
class _Windows:
    """Every engagement on a candidate group's posts, placed against the group's windows."""

    rows: _IntArray
    post_local: _IntArray  # index into the posts under test
    t_s: _FloatArray
    start_s: _FloatArray  # per post: start of the window holding most of the core
    users: _IntArray  # distinct accounts engaging those posts
    user_local: _IntArray  # per engagement: index into users
    in_win: _BoolArray
    eligible: _BoolArray  # in windows on enough *other* posts to be a member


def _windows(core: _IntArray, posts: _IntArray, eng: _Engagements, opts: _Options) -> _Windows:
    """Place all engagements of the posts against the core's densest windows."""
    rows = _gather(eng.post_ptr, eng.post_rows, posts)
    post_local = np.searchsorted(posts, eng.post[rows])
    t, user = eng.t_s[rows], eng.user[rows]
    is_core_user = np.zeros(len(eng.user_ptr) - 1, dtype=bool)
    is_core_user[core] = True
    is_core = is_core_user[user]
    start = _densest_windows(post_local[is_core], t[is_core], len(posts), opts.window_s)
    in_win = (t >= start[post_local]) & (t <= start[post_local] + opts.window_s)
    users, user_local = _compact(user, len(eng.user_ptr) - 1)
    hits = _sums(user_local, in_win, len(users))
    # Judged on the other posts only, so choosing members through a post cannot
    # bias that post's own test.
    eligible = hits[user_local] - in_win >= opts.min_posts - 1
    return _Windows(rows, post_local, t, start, users, user_local, in_win, eligible)


def _test(core: _IntArray, posts: _IntArray, eng: _Engagements, opts: _Options) -> _Group | None:
    """Keep posts whose timing beats an honest crowd and accounts beyond chance, or None."""
    w = _windows(core, posts, eng, opts)
    # Fans react to publication faster than any other honest crowd gathers.
    crowd = np.where(w.start_s - eng.post_onset_s[posts] <= opts.onset_s, opts.q_onset, opts.q)
    k = _sums(w.post_local, w.eligible, len(posts))
    m = _sums(w.post_local, w.eligible & w.in_win, len(posts))
    post_log10 = _log10_binom_sf(m, k, crowd)
    sig = post_log10 >= opts.min_post_log10
    if sig.sum() < opts.min_posts:
        return None
    hit = w.in_win & sig[w.post_local]
    n_hits = _sums(w.user_local, hit, len(w.users))
    # The null draws engagements from the rest of the graph: the part under test
    # would otherwise make its own posts look popular enough to explain itself.
    n_rest = np.diff(eng.post_ptr)[posts] - m
    background = _background_rates(w.post_local, w.in_win, w.eligible, crowd)
    lam = np.diff(eng.user_ptr)[w.users] * (n_rest * background)[sig].sum() / (len(eng.user) - m.sum())
    acct_log10 = _log10_poisson_sf(n_hits, lam)
    good = (n_hits >= opts.min_posts) & (acct_log10 >= opts.min_account_log10)
    if (
        good.sum() < opts.min_accounts
        or len(_distinct(w.post_local[hit & good[w.user_local]])) < opts.min_posts
    ):
        return None
    # A burst's tail may spill past its densest window: a proven member's engagement
    # within one more window on either side belongs to the same order.
    start = w.start_s[w.post_local]
    near = (w.t_s >= start - opts.window_s) & (w.t_s <= start + 2 * opts.window_s)
    flag = near & sig[w.post_local] & good[w.user_local]
    strength = np.minimum(
        post_log10[w.post_local[flag]] / opts.min_post_log10,
        acct_log10[w.user_local[flag]] / opts.min_account_log10,
    )
    return _Group(w.rows[flag], strength, posts[sig], post_log10[sig])


def _background_rates(
    post_local: _IntArray, in_win: _BoolArray, eligible: _BoolArray, q: _FloatArray
) -> _FloatArray:
    """Per post, the in-window share of its other engagers, shrunk toward q when they are few.

    Capped at q: no honest crowd is tighter, so a higher share means the rest of the
    post's window is the same burst (a farm's one-post accounts), not an alibi.
    """
    bg_n = _sums(post_local, ~eligible, len(q))
    bg_in = _sums(post_local, ~eligible & in_win, len(q))
    return np.minimum(q, (bg_in + _PRIOR_WEIGHT * q) / (bg_n + _PRIOR_WEIGHT))


def _log10_binom_sf(m: _FloatArray, k: _FloatArray, q: _FloatArray) -> _FloatArray:
    """-log10 P(Binomial(k, q) >= m), capped at _MAX_LOG10."""
    with np.errstate(divide="ignore"):
        out = -stats.binom.logsf(m - 1, k, q) / _LN10
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=_MAX_LOG10), 0.0, _MAX_LOG10)


def _log10_poisson_sf(n: _FloatArray, lam: _FloatArray) -> _FloatArray:
    """-log10 P(Poisson(lam) >= n), capped at _MAX_LOG10."""
    with np.errstate(divide="ignore"):
        out = -stats.poisson.logsf(n - 1, lam) / _LN10
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=_MAX_LOG10), 0.0, _MAX_LOG10)


# --------------------------------------------------------------------------- output


def _nothing(n_events: int) -> Detection:
    """No group found: zero scores, and an empty groups table with every column."""
    groups = pd.DataFrame({c: pd.Series(dtype=t) for c, t in _GROUP_COLUMNS.items()})
    empty = Detection.empty(NAME, n_events)
    return Detection(NAME, empty.event_score, empty.event_group, groups)


def _detection(found: list[_Group], eng: _Engagements, opts: _Options) -> Detection:
    """Per-event scores and the groups table; an engagement in two groups keeps the stronger."""
    best = np.zeros(len(eng.user))
    gid = np.full(len(eng.user), -1, dtype=np.int64)
    for i, g in enumerate(found):
        better = g.strength > best[g.rows]
        best[g.rows[better]] = g.strength[better]
        gid[g.rows[better]] = i
    usable = eng.event_row >= 0
    event_gid = np.where(usable, gid[np.maximum(eng.event_row, 0)], -1)
    n_events = np.bincount(event_gid[event_gid >= 0], minlength=len(found))
    records = [
        _group_record(g, eng, np.flatnonzero(gid == i), int(n_events[i]), opts)
        for i, g in enumerate(found)
        if n_events[i] > 0
    ]
    old_ids = np.flatnonzero(n_events > 0)
    table = pd.DataFrame.from_records(records)
    rank = np.lexsort((old_ids, -table["n_accounts"].to_numpy(), -table["n_events"].to_numpy()))
    table = table.iloc[rank].reset_index(drop=True)
    table.insert(0, "group_id", np.arange(len(table), dtype=np.int64))
    table = table.astype(_GROUP_COLUMNS)
    renumber = np.full(len(found), -1, dtype=np.int64)
    renumber[old_ids[rank]] = np.arange(len(table))
    event_group = np.where(event_gid >= 0, renumber[np.maximum(event_gid, 0)], -1)
    score = np.where(event_gid >= 0, 1.0 - 0.5 ** best[np.maximum(eng.event_row, 0)], 0.0)
    return Detection(NAME, score.astype(np.float64), event_group.astype(np.int64), table)


def _group_record(
    g: _Group, eng: _Engagements, rows: _IntArray, n_events: int, opts: _Options
) -> dict[str, object]:
    """One row of the groups table, from the engagements the group kept."""
    posts, post_inv, _ = _unique(eng.post[rows])
    t = eng.t_s[rows]
    by_post = np.argsort(post_inv, kind="stable")
    starts = np.searchsorted(post_inv[by_post], np.arange(len(posts)))
    spread = np.maximum.reduceat(t[by_post], starts) - np.minimum.reduceat(t[by_post], starts)
    n_accounts, n_creators = len(_distinct(eng.user[rows])), len(_distinct(eng.creator[posts]))
    median_spread_s = float(np.median(spread))
    weakest = float(g.post_log10[np.isin(g.posts, posts)].min())
    evidence = (
        f"lockstep: {n_accounts} accounts engaged these {len(posts)} posts (of {n_creators} creators) "
        f"in bursts, most of each post's group within {opts.window_s / 60:g} minutes "
        f"(median spread {median_spread_s / 60:.1f} min), {n_events} engagements; "
        f"an honest crowd bunches this tightly with chance below 1e-{int(weakest)} per post"
    )
    first_ts, last_ts = (
        pd.Timestamp(eng.t0_us + int(x * 1e6), unit="us", tz="UTC") for x in (t.min(), t.max())
    )
    return {
        "n_accounts": n_accounts,
        "n_posts": len(posts),
        "n_creators": n_creators,
        "n_events": n_events,
        "window_s": opts.window_s,
        "median_spread_s": median_spread_s,
        "weakest_post_log10": weakest,
        "first_ts": first_ts,
        "last_ts": last_ts,
        "post_ids": tuple(eng.post_ids[posts]),
        "evidence": evidence,
    }
