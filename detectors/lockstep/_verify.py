"""Lockstep groups, step 4: grow seeds into groups and test their timing and each account's chance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse import csgraph

from detectors.lockstep._index import _Engagements, _FloatArray, _IntArray, _Tokens
from detectors.lockstep._params import LockstepParams
from detectors.stats import binom_log_sf, evidence_log10, poisson_log_sf
from features.arrays import compact, csr_gather, csr_ranges, distinct, distinct_inverse, weighted_counts

_BoolArray = npt.NDArray[np.bool_]

# --------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class _Group:
    """A verified group: flagged engagement rows and per-post evidence."""

    rows: _IntArray
    strength: _FloatArray  # per row: weaker evidence in units of its threshold (>= 1)
    posts: _IntArray
    post_log10: _FloatArray


def _verify_all(
    seeds: list[_IntArray], tokens: _Tokens, eng: _Engagements, params: LockstepParams
) -> list[_Group]:
    """Grow and test seeds, purest first, skipping cores that were already explained.

    A core mostly made of accounts already in accepted groups, or in cores that did
    not grow or failed the tests, would only repeat that work.
    """
    n_users = len(eng.user_ptr) - 1
    claimed, explored = np.zeros(n_users, dtype=bool), np.zeros(n_users, dtype=bool)
    tested: set[bytes] = set()
    groups: list[_Group] = []
    cores, purity = _cores(seeds, tokens, eng, params)
    for i in np.lexsort((np.arange(len(cores)), -purity)):
        core = cores[i]
        if (
            len(core) < params.min_accounts
            or claimed[core].mean() >= params.max_claimed_share
            or explored[core].mean() >= params.max_explored_share
        ):
            continue
        grown = _grow(core, tokens, eng, params)
        if grown is None:
            explored[core] = True
            continue
        if grown[1].tobytes() in tested:
            continue
        tested.add(grown[1].tobytes())
        group = _test(grown[0], grown[1], eng, params)
        if group is None:
            explored[core] = True
            continue
        group = _refine(group, tokens, eng, params)
        claimed[eng.user[group.rows]] = True
        groups.append(group)
    return groups


def _refine(group: _Group, tokens: _Tokens, eng: _Engagements, params: LockstepParams) -> _Group:
    """Regrow a group from its own flagged accounts while that flags more engagements.

    Seeds catch a farm at random corners; restarting from the verified members makes
    the result depend far less on which seed came first.
    """
    for _ in range(params.refine_rounds):
        grown = _grow(distinct(eng.user[group.rows]), tokens, eng, params)
        if grown is None:
            break
        bigger = _test(grown[0], distinct(np.concatenate([grown[1], group.posts])), eng, params)
        if bigger is None or len(bigger.rows) <= len(group.rows):
            break
        group = bigger
    return group


def _merge(groups: list[_Group], eng: _Engagements, params: LockstepParams) -> list[_Group]:
    """Union groups that share accounts: one farm found from several seeds is one group."""
    if len(groups) < 2:
        return groups
    users = [distinct(eng.user[g.rows]) for g in groups]
    incidence = sparse.csr_matrix(
        (
            np.ones(sum(len(u) for u in users)),
            (np.repeat(np.arange(len(users)), [len(u) for u in users]), np.concatenate(users)),
        ),
        shape=(len(users), len(eng.user_ptr) - 1),
    )
    shared = (incidence @ incidence.T).tocoo()
    sizes = np.array([len(u) for u in users], dtype=np.float64)
    link = shared.data >= params.merge_overlap * np.minimum(sizes[shared.row], sizes[shared.col])
    adjacency = sparse.coo_matrix(
        (np.ones(int(link.sum())), (shared.row[link], shared.col[link])), shape=shared.shape
    )
    _, label = csgraph.connected_components(adjacency, directed=False)
    return [
        _union([g for g, lab in zip(groups, label, strict=True) if lab == c])
        for c in distinct(label.astype(np.int64))
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
    seeds: list[_IntArray], tokens: _Tokens, eng: _Engagements, params: LockstepParams
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
    rows = csr_gather(tokens.ptr, tokens.rows, seed_tokens)
    row_key = np.repeat(seed_of_token, token_sizes) * n_users + eng.user[rows]
    pairs = distinct(np.repeat(seed_of_token, token_sizes) * n_rows + rows)
    seed_user, _, n_posts = distinct_inverse((pairs // n_rows) * n_users + eng.user[pairs % n_rows])
    kept = seed_user[n_posts >= 2]
    at = np.minimum(np.searchsorted(kept, row_key), max(len(kept) - 1, 0))
    is_core = kept[at] == row_key if len(kept) else np.zeros(len(row_key), dtype=bool)
    in_token = weighted_counts(np.repeat(np.arange(len(seed_tokens)), token_sizes), is_core, len(seed_tokens))
    core_size = np.bincount(kept // n_users, minlength=n_seeds)
    full = in_token >= np.maximum(tokens.min_size, params.core_share * core_size)[seed_of_token]
    n_post_ids = len(eng.post_ids)
    full_posts = distinct(seed_of_token[full] * n_post_ids + tokens.post[seed_tokens[full]])
    coherent = np.bincount(full_posts // n_post_ids, minlength=n_seeds) >= 2
    bounds = np.searchsorted(kept // n_users, np.arange(n_seeds + 1))
    user = kept % n_users
    empty = np.zeros(0, dtype=np.int64)
    purity = weighted_counts(np.repeat(seed_of_token, token_sizes), is_core, n_seeds)
    purity /= weighted_counts(seed_of_token, token_sizes, n_seeds)
    cores = [user[bounds[i] : bounds[i + 1]] if coherent[i] else empty for i in range(n_seeds)]
    return cores, purity


def _grow(
    core: _IntArray, tokens: _Tokens, eng: _Engagements, params: LockstepParams
) -> tuple[_IntArray, _IntArray] | None:
    """Windows a share of the core sits in, and the accounts in min_posts of their posts."""
    n_users = len(eng.user_ptr) - 1
    for _ in range(params.grow_rounds):
        tok = tokens.of_row[csr_ranges(eng.user_ptr, core)].ravel()  # rows are sorted by account
        counts = np.bincount(tok[tok >= 0], minlength=len(tokens.post))
        keep = np.flatnonzero(counts >= max(tokens.min_size, params.core_share * len(core)))
        posts = distinct(tokens.post[keep])
        if len(posts) < params.min_posts:
            return None
        rows = csr_gather(tokens.ptr, tokens.rows, keep)
        kept = np.zeros(len(tokens.post) + 1, dtype=bool)
        kept[keep] = True
        # An engagement sits in a kept token of each grid at most: count it once.
        grid0 = tokens.of_row[rows, 0]
        once = (grid0 == np.repeat(keep, np.diff(tokens.ptr)[keep])) | ~kept[grid0]
        n_posts = np.bincount(eng.user[rows[once]], minlength=n_users)
        core = np.flatnonzero(n_posts >= params.min_posts)
        if len(core) < params.min_accounts:
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


def _windows(core: _IntArray, posts: _IntArray, eng: _Engagements, params: LockstepParams) -> _Windows:
    """Place all engagements of the posts against the core's densest windows."""
    rows = csr_gather(eng.post_ptr, eng.post_rows, posts)
    post_local = np.searchsorted(posts, eng.post[rows])
    t, user = eng.t_s[rows], eng.user[rows]
    is_core_user = np.zeros(len(eng.user_ptr) - 1, dtype=bool)
    is_core_user[core] = True
    is_core = is_core_user[user]
    start = _densest_windows(post_local[is_core], t[is_core], len(posts), params.window_s)
    in_win = (t >= start[post_local]) & (t <= start[post_local] + params.window_s)
    users, user_local = compact(user, len(eng.user_ptr) - 1)
    hits = weighted_counts(user_local, in_win, len(users))
    # Judged on the other posts only, so choosing members through a post cannot
    # bias that post's own test.
    eligible = hits[user_local] - in_win >= params.min_posts - 1
    return _Windows(rows, post_local, t, start, users, user_local, in_win, eligible)


def _test(core: _IntArray, posts: _IntArray, eng: _Engagements, params: LockstepParams) -> _Group | None:
    """Keep posts whose timing beats an honest crowd and accounts beyond chance, or None."""
    w = _windows(core, posts, eng, params)
    # Fans react to publication faster than any other honest crowd gathers.
    crowd = np.where(
        w.start_s - eng.post_onset_s[posts] <= params.onset_s, params.fan_share, params.crowd_share
    )
    k = weighted_counts(w.post_local, w.eligible, len(posts))
    m = weighted_counts(w.post_local, w.eligible & w.in_win, len(posts))
    post_log10 = evidence_log10(binom_log_sf(m, k, crowd))
    sig = post_log10 >= params.min_post_log10
    if sig.sum() < params.min_posts:
        return None
    hit = w.in_win & sig[w.post_local]
    n_hits = weighted_counts(w.user_local, hit, len(w.users))
    # The null draws engagements from the rest of the graph: the part under test
    # would otherwise make its own posts look popular enough to explain itself.
    n_rest = np.diff(eng.post_ptr)[posts] - m
    background = _background_rates(w.post_local, w.in_win, w.eligible, crowd, params.prior_engagements)
    lam = np.diff(eng.user_ptr)[w.users] * (n_rest * background)[sig].sum() / (eng.n_window - m.sum())
    acct_log10 = evidence_log10(poisson_log_sf(n_hits, lam))
    good = (n_hits >= params.min_posts) & (acct_log10 >= params.min_account_log10)
    if (
        good.sum() < params.min_accounts
        or len(distinct(w.post_local[hit & good[w.user_local]])) < params.min_posts
    ):
        return None
    # A burst's tail may spill past its densest window: a proven member's engagement
    # within one more window on either side belongs to the same order.
    start = w.start_s[w.post_local]
    spill = params.spill_windows
    near = (w.t_s >= start - spill * params.window_s) & (w.t_s <= start + (1 + spill) * params.window_s)
    flag = near & sig[w.post_local] & good[w.user_local]
    strength = np.minimum(
        post_log10[w.post_local[flag]] / params.min_post_log10,
        acct_log10[w.user_local[flag]] / params.min_account_log10,
    )
    return _Group(w.rows[flag], strength, posts[sig], post_log10[sig])


def _background_rates(
    post_local: _IntArray, in_win: _BoolArray, eligible: _BoolArray, q: _FloatArray, prior: float
) -> _FloatArray:
    """Per post, the in-window share of its other engagers, shrunk toward q when they are few.

    Capped at q: no honest crowd is tighter, so a higher share means the rest of the
    post's window is the same burst (a farm's one-post accounts), not an alibi.
    """
    bg_n = weighted_counts(post_local, ~eligible, len(q))
    bg_in = weighted_counts(post_local, ~eligible & in_win, len(q))
    return np.minimum(q, (bg_in + prior * q) / (bg_n + prior))
