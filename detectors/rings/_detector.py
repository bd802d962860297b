"""The ring detector: its entry point, ring acceptance and growth, and the groups table it reports."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from detectors.rings._candidates import _candidates
from detectors.rings._chance import _Ring, _test
from detectors.rings._params import RingParams
from detectors.rings._window import FloatArray, IntArray, _PoolModel, _Window
from features.arrays import csr_ranges, distinct_first, stable_order
from features.graph import (
    GraphIndex,
    account_owner,
    creator_edge_codes,
    creator_post_counts,
    graph_index,
)

NAME = "ring"
_GROUP_COLUMNS: dict[str, str] = {
    "group_id": "int64",
    "n_accounts": "int64",
    "n_posts": "int64",
    "n_creators": "int64",
    "n_events": "int64",
    "creators": "str",
    "platform": "str",
    "n_alt_accounts": "int64",
    "n_pool_accounts": "int64",
    "expected_pool": "float64",
    "coverage": "float64",
    "reciprocal_pairs": "int64",
    "reciprocal_log10": "float64",
    "pool_log10": "float64",
    "evidence": "str",
}


def rings(engagements: pd.DataFrame, *, params: RingParams, studios: pd.Series | None = None) -> Detection:
    """Score engagements inside mutual-engagement rings of creators and their alt accounts.

    Parameters
    ----------
    engagements:
        One row per engagement with ``user_id``, ``post_id``, ``creator_id`` and
        ``platform``; ``device_id`` and ``ip`` are used when present.  The frame is
        not modified; rows with a missing id are never flagged.
    params:
        The thresholds (:class:`RingParams`).  An account joins the pool when its
        concentration on the group reaches a -log10 p threshold: the lowest of
        ``min_account_log10 + pool_threshold_step_log10 * k`` (k below
        ``pool_threshold_steps``) at which chance accounts for at most
        ``max_pool_fdr`` of those passing; and only when ``min_account_focus`` of
        its creators are members (pool accounts engage the ring "and little
        else"), counted in creator units (a studio's creators are one).  A found
        ring keeps the members whose posts ``min_member_pool_share`` of its
        concentrated accounts engaged, and a creator outside it joins when
        ``min_pool_share`` of them engaged its posts and it reciprocates with a
        kept member (its own account may be lazy while its alts do the work).
    studios:
        post_id to studio_id (``posts.studio_id``). The creators of one studio
        count as one creator unit: a studio's creators engaging each other's posts
        is cross-promotion, so a ring needs ``min_creators`` studios or
        independent creators; and the studio's fans engaging several of them is
        its audience, so the pool test counts the studio once.

    Returns
    -------
    Detection
        ``name="ring"``.  ``event_score`` is ``1 - 0.5 ** z`` on ring events, z >= 1
        the weakest group test in units of its threshold (an account joining
        through the pool is capped by its own test); 0 elsewhere.  ``groups`` has
        group_id, n_accounts, n_posts, n_creators, n_events, creators (';'-joined
        ids), platform, n_alt_accounts, n_pool_accounts, expected_pool, coverage,
        reciprocal_pairs, reciprocal_log10, pool_log10 and evidence.
    """
    n_events = len(engagements)
    index = graph_index(engagements)
    if index.n_creators < params.min_creators:
        return _empty(n_events)
    owner, _ = account_owner(
        engagements,
        index=index,
        max_device_accounts=params.max_device_accounts,
        max_ip_accounts=params.max_ip_accounts,
    )
    edges = creator_edge_codes(index, owner)
    candidates = _candidates(edges, params)
    if not candidates:
        return _empty(n_events)
    unit = _creator_units(engagements, index, studios)
    window = _Window(index, owner, unit, edges, _PoolModel.build(index, unit), creator_post_counts(index))
    found = _accept(candidates, window, params)
    if not found:
        return _empty(n_events)
    return _detection(found, index, n_events)


def ring_creators(detection: Detection) -> set[str]:
    """The creator ids of every ring in a ``rings`` detection (each is a buyer)."""
    if detection.groups.empty or "creators" not in detection.groups:
        return set()
    # a shard's groups of catches in other shards (``detectors.spread``) name no creators
    return {c for joined in detection.groups["creators"].dropna() for c in str(joined).split(";") if c}


def _creator_units(engagements: pd.DataFrame, index: GraphIndex, studios: pd.Series | None) -> IntArray:
    """Per creator code: its unit, the studio of its posts when ``studios`` names one, else its own."""
    unit = np.arange(index.n_creators, dtype=np.int64)
    if studios is None or not len(studios):
        return unit
    # a studio signs creators, so one post per creator names its studio
    creator, first, _ = distinct_first(index.creator)
    posts = engagements["post_id"].iloc[index.rows[first]].to_numpy()
    studio = pd.Series(studios.reindex(posts).to_numpy())
    signed = studio.notna().to_numpy()
    # a unit never spans platforms: a studio active on two is one unit on each
    platform = index.creator_platform[creator[signed]].astype(str)
    unit[creator[signed]] = index.n_creators + pd.factorize(studio[signed].astype(str) + "\x00" + platform)[0]
    return unit


def _accept(candidates: list[IntArray], window: _Window, params: RingParams) -> list[_Ring]:
    """Test candidates in order, regroup the rings that pass around their pool, give each creator one ring.

    A ring spans at least ``min_creators`` units (``window.unit``: a studio's creators are one).
    A ring whose regrouped members fail the tests is dropped, unless regrouping only added
    creators (then the ring stays as it was).
    """
    unit = window.unit
    taken = np.zeros(window.index.n_creators, dtype=bool)
    found: list[_Ring] = []
    for candidate in candidates:
        members = candidate[~taken[candidate]]
        if len(np.unique(unit[members])) < params.min_creators:
            continue
        ring = _test(members, window, params)
        if ring is None:
            continue
        regrouped = _regroup(ring, window, taken, params)
        if not np.array_equal(regrouped, ring.creators):
            grown_only = bool(np.isin(ring.creators, regrouped).all())
            ring = _test(regrouped, window, params) or (ring if grown_only else None)
        if ring is None or len(np.unique(unit[ring.creators])) < params.min_creators:
            continue
        taken[ring.creators] = True
        found.append(ring)
    return found


def _regroup(ring: _Ring, window: _Window, taken: npt.NDArray[np.bool_], params: RingParams) -> IntArray:
    """The ring's members whose posts ``min_member_pool_share`` of its pool engaged, and the free
    creators whose posts ``min_pool_share`` of it engaged and that reciprocate with a kept member.

    A pod's accounts engage every member's posts; a member the pool leaves alone is
    tied to the ring by other engagement (a studio-mate's cross-promotion), not by the ring.
    """
    pool = window.pool
    reached = pool.creator[csr_ranges(pool.account_ptr, ring.pool_accounts)]
    engaged = np.bincount(reached, minlength=window.index.n_creators) / max(len(ring.pool_accounts), 1)
    kept = ring.creators[engaged[ring.creators] >= params.min_member_pool_share]
    is_candidate = (engaged >= params.min_pool_share) & ~taken
    is_candidate[ring.creators] = False
    if not is_candidate.any():
        return kept
    source, target = window.edges["source"].to_numpy(), window.edges["target"].to_numpy()
    gives = np.isin(target, kept) & is_candidate[source]
    gets = np.isin(source, kept) & is_candidate[target]
    n_creators = window.index.n_creators
    both = np.intersect1d(
        source[gives] * n_creators + target[gives], target[gets] * n_creators + source[gets]
    )
    return np.union1d(kept, both // n_creators).astype(np.int64)


# --------------------------------------------------------------------------- output


@dataclass(frozen=True)
class _Counts:
    """What a ring's scored events add up to."""

    n_events: int
    n_posts: int
    n_accounts: int
    creators: str


def _detection(found: list[_Ring], index: GraphIndex, n_events: int) -> Detection:
    """Per-event scores and groups of the accepted rings, most events first."""
    ring_of_creator = np.full(index.n_creators, -1, dtype=np.int64)
    for g, ring in enumerate(found):
        ring_of_creator[ring.creators] = g
    ring_of_row = ring_of_creator[index.creator]
    row_score = _row_scores(found, index, ring_of_row)
    hit = row_score > 0
    counts = [
        _Counts(
            n_events=int((hit & (ring_of_row == g)).sum()),
            n_posts=len(np.unique(index.post[hit & (ring_of_row == g)])),
            n_accounts=len(np.unique(index.account[hit & (ring_of_row == g)])),
            creators=";".join(sorted(str(c) for c in index.creator_ids[r.creators])),
        )
        for g, r in enumerate(found)
    ]
    order = sorted(range(len(found)), key=lambda g: (-counts[g].n_events, counts[g].creators))
    group_of_ring = np.empty(len(found), dtype=np.int64)
    group_of_ring[order] = np.arange(len(found))
    event_score = np.zeros(n_events, dtype=np.float64)
    event_group = np.full(n_events, -1, dtype=np.int64)
    event_score[index.rows[hit]] = row_score[hit]
    event_group[index.rows[hit]] = group_of_ring[ring_of_row[hit]]
    groups = pd.DataFrame([_group_row(i, found[g], counts[g], index) for i, g in enumerate(order)])
    return Detection(NAME, event_score, event_group, groups.astype(_GROUP_COLUMNS))


def _row_scores(found: list[_Ring], index: GraphIndex, ring_of_row: IntArray) -> FloatArray:
    """Per usable row: its account's score in the ring of its post's creator, 0 if not a ring account."""
    keys = np.concatenate([g * index.n_accounts + r.accounts for g, r in enumerate(found)])
    scores = np.concatenate([r.account_score for r in found])
    order = stable_order(keys)
    keys, scores = keys[order], scores[order]
    row_key = np.where(ring_of_row >= 0, ring_of_row * index.n_accounts + index.account, -1)
    pos = np.clip(np.searchsorted(keys, row_key), 0, len(keys) - 1)
    return np.where((ring_of_row >= 0) & (keys[pos] == row_key), scores[pos], 0.0)


def _empty(n_events: int) -> Detection:
    """A detection that found no ring, with every column of the groups frame."""
    groups = pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in _GROUP_COLUMNS.items()})
    return Detection(
        NAME, np.zeros(n_events, dtype=np.float64), np.full(n_events, -1, dtype=np.int64), groups
    )


def _group_row(group_id: int, ring: _Ring, counts: _Counts, index: GraphIndex) -> dict[str, object]:
    """One row of the groups frame with its evidence sentence."""
    k = len(ring.creators)
    platform = str(index.platform_ids[int(np.bincount(index.creator_platform[ring.creators]).argmax())])
    evidence = (
        f"ring: {k} creators and {ring.n_alt} alt accounts engaged each other's posts"
        f" {counts.n_events} times"
        f" ({ring.reciprocal_pairs} of {k * (k - 1) // 2} creator pairs both ways, {ring.coverage:.0%} of"
        f" members' posts covered; {len(ring.pool_accounts)} accounts concentrated on the ring vs"
        f" {ring.expected_pool:.1f} expected by chance)"
    )
    return {
        "group_id": group_id,
        "n_accounts": counts.n_accounts,
        "n_posts": counts.n_posts,
        "n_creators": k,
        "n_events": counts.n_events,
        "creators": counts.creators,
        "platform": platform,
        "n_alt_accounts": ring.n_alt,
        "n_pool_accounts": len(ring.pool_accounts),
        "expected_pool": ring.expected_pool,
        "coverage": ring.coverage,
        "reciprocal_pairs": ring.reciprocal_pairs,
        "reciprocal_log10": ring.reciprocal_log10,
        "pool_log10": ring.pool_log10,
        "evidence": evidence,
    }
