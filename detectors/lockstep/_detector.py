"""The lockstep detector: its entry point and the groups table it reports."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.base import Detection
from detectors.lockstep._index import LockstepChance, _Engagements, _engagements, _IntArray, _tokens
from detectors.lockstep._params import LockstepParams
from detectors.lockstep._seeds import _seeds
from detectors.lockstep._verify import _Group, _merge, _verify_all
from features.arrays import distinct, distinct_inverse, stable_order

NAME = "lockstep"

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


def lockstep_groups(
    events: pd.DataFrame,
    *,
    params: LockstepParams,
    posts: pd.DataFrame | None = None,
    chance: LockstepChance | None = None,
) -> Detection:
    """Score engagements made in lockstep: same posts, same short windows, repeatedly.

    Parameters
    ----------
    events:
        One row per engagement with ``user_id``, ``post_id``, ``creator_id`` and a
        tz-aware ``ts``; other columns are ignored, the frame is not modified, and
        rows with a missing id or time are never flagged.
    params:
        The thresholds (:class:`LockstepParams`).  A window starting within
        ``onset_s`` of the post's publication is judged against fans, who may react
        as fast as a mean ``fan_delay_s``: at onset only a group far tighter and
        larger than a fan club counts.  The MinHash layout and its hash seed are
        fixed, so results are deterministic and do not depend on the row order.
    posts:
        Optional ``post_id``/``published_at`` table.  Publication is the earlier of
        ``published_at`` and the post's first engagement in ``events``; without the
        table a quiet post whose first engagements are the burst is judged at onset.
    chance:
        The whole window's grid origin and engagements (``lockstep_chance``) when
        ``events`` are one shard of it; None: ``events`` are the window.

    Returns
    -------
    Detection
        ``name="lockstep"``.  ``event_score`` is 0 outside groups and
        ``1 - 0.5 ** z`` inside, with z >= 1 the weaker test's evidence in units of
        its threshold (0.5 at the threshold, 0.75 at twice, ...).  ``groups`` has
        group_id, n_accounts, n_posts, n_creators, n_events, window_s,
        median_spread_s, weakest_post_log10, first_ts, last_ts, post_ids, evidence.
    """
    eng = _engagements(events, posts, chance)
    if eng is None:
        return _nothing(len(events))
    tokens = _tokens(eng, params)
    seeds = _seeds(
        tokens,
        eng,
        n_bands=params.n_bands,
        rows_per_band=params.rows_per_band,
        seed=params.lsh_seed,
        hash_ids=params.hash_account_ids,
    )
    found = _merge(_verify_all(seeds, tokens, eng, params), eng, params)
    if not found:
        return _nothing(len(events))
    return _detection(found, eng, params)


# --------------------------------------------------------------------------- output


def _nothing(n_events: int) -> Detection:
    """No group found: zero scores, and an empty groups table with every column."""
    groups = pd.DataFrame({c: pd.Series(dtype=t) for c, t in _GROUP_COLUMNS.items()})
    empty = Detection.empty(NAME, n_events)
    return Detection(NAME, empty.event_score, empty.event_group, groups)


def _detection(found: list[_Group], eng: _Engagements, params: LockstepParams) -> Detection:
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
        _group_record(g, eng, np.flatnonzero(gid == i), int(n_events[i]), params)
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
    g: _Group, eng: _Engagements, rows: _IntArray, n_events: int, params: LockstepParams
) -> dict[str, object]:
    """One row of the groups table, from the engagements the group kept."""
    posts, post_inv, _ = distinct_inverse(eng.post[rows])
    t = eng.t_s[rows]
    by_post = stable_order(post_inv)
    starts = np.searchsorted(post_inv[by_post], np.arange(len(posts)))
    spread = np.maximum.reduceat(t[by_post], starts) - np.minimum.reduceat(t[by_post], starts)
    n_accounts, n_creators = len(distinct(eng.user[rows])), len(distinct(eng.creator[posts]))
    median_spread_s = float(np.median(spread))
    weakest = float(g.post_log10[np.isin(g.posts, posts)].min())
    evidence = (
        f"lockstep: {n_accounts} accounts engaged these {len(posts)} posts (of {n_creators} creators) "
        f"in bursts, most of each post's group within {params.window_s / 60:g} minutes "
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
        "window_s": params.window_s,
        "median_spread_s": median_spread_s,
        "weakest_post_log10": weakest,
        "first_ts": first_ts,
        "last_ts": last_ts,
        "post_ids": tuple(eng.post_ids[posts]),
        "evidence": evidence,
    }
