"""From groups to accounts: spreading a group's verdict to its accounts, weighting blocks by focus.

Group detectors find engagements on the posts a group co-engaged; these two
steps turn that into evidence about the accounts: an account mostly caught
carries its score to its other engagements (camouflage), and a dense block's
score counts in proportion to how much of an account's activity lies inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from detectors.history import HISTORY_COLUMN
from features.arrays import codes, distinct


@dataclass(frozen=True)
class SpreadParams:
    """Knobs of spreading group scores to accounts and of the dense-block focus weighting."""

    # an event counts as caught from this group score up
    min_caught_score: float = 0.5
    # an account spreads once this share of its engagements is caught (chance catches stay below)
    min_caught_share: float = 0.3
    # a spread engagement gets this fraction of its account's strongest caught score
    spread_weight: float = 0.9
    # share of an account's distinct posts inside its block at which the block score starts counting
    focus_floor: float = 0.3
    # share at which the block score counts in full
    focus_full: float = 0.7
    # a seller's IP (``detectors.seller_ips``): at least this many of its distinct accounts (window and
    # history) caught by a structural detector at ``min_caught_score``...
    ip_min_caught_accounts: int = 5
    # ...and at least this share of them (a carrier NAT's or a household's stay far below; above 1: off)
    ip_min_caught_share: float = 0.5
    # its accounts with at most this many distinct posts (window and history) get ``spread_weight`` x the
    # IP's strongest caught score; an account with a record of its own keeps it
    ip_light_posts: int = 12
    # ...on posts that drew at least this many caught accounts through seller IPs (the seller's orders
    # and cover; a housemate's own posts behind a residential proxy draw none)
    ip_min_post_accounts: int = 3
    # a bot farm's address (camo20; on since camo21, twentieth session): one whose caught accounts were
    # caught on automation or infrastructure evidence (``seller_ips.FARM_EVIDENCE``: accounts behind one IP
    # or device, lockstep), not on a group of people's own accounts (a ring's alt accounts, a pool's bought
    # accounts, who share homes and offices with honest users). With it on, such an address is a seller's
    # from ``ip_farm_min_caught_accounts`` of them (at ``ip_min_caught_share``), and its thin accounts are
    # raised when they engaged at most ``ip_farm_max_posts`` distinct posts (window and history), on posts
    # that drew ``ip_farm_min_post_accounts`` caught accounts through seller IPs: a farm puts one fresh
    # account per engagement on honest popular posts as cover, a few per address and post, where a person
    # behind a shared address engages again (40k four worlds seed 17: a ring's address shared with light
    # users). A farm's address has a farm's shape, not a home's: it rotates fresh accounts, at least
    # ``ip_farm_min_accounts`` of them, of which ``ip_farm_min_fresh_share`` engaged at most
    # ``ip_farm_max_posts`` posts (history seed 10's farm: 4-14 accounts, 75-100% one-post); a household or
    # a small office has a few accounts of people with posts of their own (camo21)
    ip_farm_floors: bool = True
    ip_farm_min_caught_accounts: int = 2
    ip_farm_max_posts: int = 1
    ip_farm_min_post_accounts: int = 1
    ip_farm_min_accounts: int = 4
    ip_farm_min_fresh_share: float = 0.75
    # rounds of the seller-IP rule: from the second on, a thin account raised in the round before counts
    # as caught on every address it used (a seller rotates its accounts over its addresses), so an
    # address whose accounts were raised elsewhere becomes a seller's too (1: one round)
    ip_rounds: int = 2
    # a round that finds no new seller still raises what its widened catches reach, at its own per-address
    # scores and counts, and the rounds run on until one changes nothing (review21); off, its rows count
    # only when a new seller appears anywhere in the window, so one platform's raises hang on another's
    # sellers, which a shard of Spark cannot see (docs/journal/session-20.md, spark21; on since that
    # session's integration)
    ip_rounds_keep_widened: bool = True
    # a post's own addresses (``detectors.post_only_ips``): an address that at least this many distinct thin
    # accounts (``ip_light_posts``) per post used, on its few posts (``ip_post_only_posts``) and nothing
    # else in the window and its history...
    ip_post_only_accounts: int = 2
    # ...of which a post has at least this many (0: off), beyond chance at a Poisson tail of at most
    # ``10**ip_post_only_log10_p`` (``ip_farm``'s own bar): its engagements through them get ``spread_weight``
    ip_post_only_addresses: int = 5
    ip_post_only_log10_p: float = -8.0
    # ...when the window and its history span at least this many days: an address's quiet weeks are seen
    # only in weeks of data (a week alone shows a fan household's address on that week's post only)
    ip_post_only_days: float = 14.0
    # an address may be the own address of up to this many posts (a seller keeps its addresses for a few
    # orders), when each of its accounts was on one post through it (a seller's fresh account per
    # engagement; a household's members engage their creators' posts again through their home) and
    # it carried ``ip_post_only_accounts`` accounts per post (1: one post only; 3: dev
    # seeds 10-60 drip-feed up in 4 windows of 51, honest flags unchanged, docs/detection.md)
    ip_post_only_posts: int = 3
    # the platform's chance of a post's own addresses is estimated without the posts already found
    # (repeated until none is added): a seller's orders, counted over their few posts each, raised it
    # tenfold for a click farm's post on the same platform (seed 8, four worlds: 0.09 -> 0.91 expected).
    # On: that click farm 0.980 -> 0.986; history dev seeds 10-60 drip-feed up on 18 and 47, single
    # windows seeds 3-8 recall up in 5 of 48; honest flags identical everywhere (docs/benchmarks-archive.md)
    ip_post_only_found_out: bool = True
    # with history (rows marked ``detectors.history.HISTORY_COLUMN``), an account also spreads on its
    # window's engagements alone: its history adds engagements its catches are a share of, and a farm
    # account caught on a window post but not in its earlier, thinner week fell below
    # ``min_caught_share`` there (history dev seed 59: ring accounts 3 of 6 engagements caught in the
    # window, 3 of 12 with one week). History then never weakens what the window alone shows
    # (issue 13; docs/journal/session-21.md). A split window's shards read each account's window-alone
    # evidence over every shard (``window_alone_part``, rows labelled ``alone_label``). On since depth24
    # (session 23), with ``IpFarmParams.window_alone``
    window_alone: bool = True


# an account's spreading evidence under one detector, per account: what ``spread_to_accounts``
# decides with, and what the shards of a split window add up (``scaleout.job``); ``evidence`` is the
# sentence of the group of its strongest caught engagement (kept with the strongest score)
SPREAD_COLUMNS = ("detector", "user_id", "caught", "total", "strongest", "evidence")
# ends the ``detector`` of a detector's window-alone rows in a split window's spreading evidence: its
# evidence over the window's own rows, not history's (``SpreadParams.window_alone``, ``window_alone_part``)
ALONE_SUFFIX = "\twindow_alone"
Counts = npt.NDArray[Any]  # per account code: float from weighted counts, int from plain ones


@dataclass(frozen=True)
class AccountRows:
    """What spreading reads of the engagements alone, the same under every detector: per engagement
    its account code (``users``) and whether that account is a creator's (``is_creator``; None
    without a ``creator_id`` column), and per account code its engagements (``n_total``)."""

    users: npt.NDArray[np.int64]
    n_total: npt.NDArray[np.int64]
    is_creator: npt.NDArray[np.bool_] | None


def account_rows(engagements: pd.DataFrame, *, creators: pd.Index | None = None) -> AccountRows:
    """``AccountRows`` of ``engagements``, taken once for every detector that spreads over them
    (``creators``: as ``spread_to_accounts`` takes them)."""
    users = codes(engagements["user_id"])
    n_users = int(users.max()) + 1 if len(users) else 0
    is_creator = is_creator_account(engagements, creators=creators) if "creator_id" in engagements else None
    n_total = np.bincount(users, minlength=n_users)
    # shared by every detector's spreading (in their threads): read only (``users`` may be the column's own)
    for array in (n_total, is_creator):
        if array is not None:
            array.flags.writeable = False
    return AccountRows(users, n_total, is_creator)


def _account_evidence(
    detection: Detection,
    engagements: pd.DataFrame,
    *,
    params: SpreadParams,
    creators: pd.Index | None,
    rows: AccountRows | None = None,
) -> tuple[Counts, Counts, npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Per account code: caught engagements, all engagements, strongest caught score and its group
    (a creator's own account has nothing caught here: see ``spread_to_accounts``). ``rows``: the
    engagements' ``account_rows`` when the caller has them already."""
    if rows is None:
        rows = account_rows(engagements, creators=creators)
    users, n_total = rows.users, rows.n_total
    caught = detection.event_score >= params.min_caught_score
    if caught.any() and rows.is_creator is not None:
        caught &= ~rows.is_creator
    n_caught = np.bincount(users, weights=caught, minlength=len(n_total))
    # per account, the strongest caught event and its group (the last such row on ties):
    # assignments in ascending score order leave the strongest one standing
    caught_rows = np.flatnonzero(caught)
    order = caught_rows[np.argsort(detection.event_score[caught_rows], kind="stable")]
    strongest = np.zeros(len(n_total))
    strongest[users[order]] = detection.event_score[order]
    group = np.full(len(n_total), -1, dtype=np.int64)
    group[users[order]] = detection.event_group[order]
    return n_caught, n_total, strongest, group


def spread_part(
    detection: Detection,
    engagements: pd.DataFrame,
    *,
    params: SpreadParams,
    creators: pd.Index | None = None,
    rows: AccountRows | None = None,
) -> pd.DataFrame:
    """One shard's part of each account's evidence (``SPREAD_COLUMNS``): sums of counts, max of scores.

    Accounts of a split platform engage in several shards; Spark adds their counts
    up and keeps the strongest score, and gives the result back to every shard as
    ``spread_to_accounts``'s ``window``. Accounts with nothing caught are left out.
    ``creators``: the window's creators besides the shard's own (``spread_to_accounts``); ``rows``: the
    engagements' ``account_rows`` with those creators, when the caller has them.
    """
    n_caught, n_total, strongest, group = _account_evidence(
        detection, engagements, params=params, creators=creators, rows=rows
    )
    labels = _labels(engagements["user_id"])
    present = np.flatnonzero(n_total > 0)
    return pd.DataFrame(
        {
            "detector": detection.name,
            "user_id": np.asarray(labels, dtype=object)[present].astype(str),
            "caught": n_caught[present].astype(np.int64),
            "total": n_total[present].astype(np.int64),
            "strongest": strongest[present],
            "evidence": _sentences(detection.groups, group[present]),
        }
    )[list(SPREAD_COLUMNS)]


def alone_label(name: str) -> str:
    """The ``detector`` of detector ``name``'s window-alone rows (``ALONE_SUFFIX``)."""
    return name + ALONE_SUFFIX


def detector_rows(spread: pd.DataFrame, name: str) -> pd.DataFrame:
    """Detector ``name``'s rows of a split window's spreading evidence, its window-alone rows too."""
    return spread[spread["detector"].isin([name, alone_label(name)])]


def window_alone_part(
    detection: Detection,
    engagements: pd.DataFrame,
    *,
    params: SpreadParams,
    creators: pd.Index | None = None,
    rows: AccountRows | None = None,
) -> pd.DataFrame:
    """``spread_part`` of the window's own rows (not history's; all of a shard without history), its
    ``detector`` ``alone_label``: what each account's window-alone spreading (``_window_alone``) adds up
    over a split window's shards."""
    if rows is None:
        rows = account_rows(engagements, creators=creators)
    found = _window_only(detection, engagements, rows)
    alone, window_rows = found if found is not None else (detection, rows)
    part = spread_part(alone, engagements, params=params, creators=creators, rows=window_rows)
    return part.assign(detector=alone_label(detection.name))


def _sentences(groups: pd.DataFrame, group: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """The evidence sentence of each group id of ``group`` (None for -1 or a group without one)."""
    if not len(groups) or "evidence" not in groups:
        return np.full(len(group), None, dtype=object)
    by_group = groups.drop_duplicates("group_id").set_index("group_id")["evidence"].astype(object)
    return _or_none(by_group.reindex(group).to_numpy(dtype=object))


def _or_none(values: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """``values`` with None for every missing value (NaN, NA)."""
    out = values.astype(object)
    out[pd.isna(out)] = None
    return out


def _labels(user_ids: pd.Series) -> pd.Index:
    """The account of each code ``codes`` gives."""
    if isinstance(user_ids.dtype, pd.CategoricalDtype):
        return pd.Index(user_ids.cat.categories)
    return pd.Index(pd.factorize(user_ids)[1])


def _window_evidence(
    window: pd.DataFrame, user_ids: pd.Series, n_users: int
) -> tuple[Counts, Counts, npt.NDArray[np.float64], npt.NDArray[np.object_]]:
    """Per account code of ``user_ids``: the window's caught and total counts, strongest score and the
    evidence sentence of that score's group (None: not given)."""
    found = window.set_index("user_id").reindex(_labels(user_ids)[:n_users].astype(str))
    sentence = (
        found["evidence"].astype(object).to_numpy(dtype=object)
        if "evidence" in found
        else np.full(len(found), None, dtype=object)
    )
    return (
        found["caught"].fillna(0).to_numpy(dtype=np.float64),
        found["total"].fillna(0).to_numpy(dtype=np.int64),
        found["strongest"].fillna(0.0).to_numpy(dtype=np.float64),
        _or_none(sentence),
    )


def _window_groups(
    detection: Detection,
    group: npt.NDArray[np.int64],
    *,
    elsewhere: npt.NDArray[np.bool_],
    sentence: npt.NDArray[np.object_],
) -> tuple[npt.NDArray[np.int64], pd.DataFrame]:
    """Per account code its group, and the detection's groups: an account whose strongest caught
    engagement lies in another shard (``elsewhere``) takes a group of that engagement's ``sentence``,
    added to the groups, as the whole window gives it the group of its strongest catch."""
    takes = elsewhere & ~pd.isna(sentence)
    if not takes.any():
        return group, detection.groups
    texts, which = np.unique(sentence[takes].astype(str), return_inverse=True)
    groups = detection.groups
    base = int(groups["group_id"].max()) + 1 if len(groups) else 0
    group = group.copy()
    group[takes] = base + which
    added = pd.DataFrame(
        {
            "group_id": base + np.arange(len(texts), dtype=np.int64),
            "n_accounts": np.bincount(which, minlength=len(texts)).astype(np.int64),
            "n_posts": np.zeros(len(texts), dtype=np.int64),
            "evidence": texts,
        }
    )
    return group, pd.concat([groups, added], ignore_index=True) if len(groups) else added


def is_creator_account(
    engagements: pd.DataFrame, *, creators: pd.Index | None = None
) -> npt.NDArray[np.bool_]:
    """Per event: its account is a creator of the engagements (``creator_id``: the creator's own
    account, as the contract has it) or one of ``creators`` (a split window's other shards')."""
    creator_id = engagements["creator_id"]
    if isinstance(creator_id.dtype, pd.CategoricalDtype):
        own = creator_id.cat.categories[
            _used(creator_id.cat.codes.to_numpy(), len(creator_id.cat.categories))
        ]
    else:
        own = pd.Index(pd.unique(creator_id.dropna()))
    creators = own if creators is None else own.astype("str").union(creators.astype("str"))
    user_id = engagements["user_id"]
    if not isinstance(user_id.dtype, pd.CategoricalDtype):
        return np.asarray(user_id.isin(creators).to_numpy(), dtype=bool)
    at = user_id.cat.categories.get_indexer(creators)  # the categories' hash table is built once
    is_creator = np.zeros(len(user_id.cat.categories) + 1, dtype=bool)  # the last: a missing id
    is_creator[at[at >= 0]] = True
    return is_creator[user_id.cat.codes.to_numpy()]


def _used(category_codes: npt.NDArray[np.integer], n_categories: int) -> npt.NDArray[np.bool_]:
    """Per category: some row has it (-1, a missing value, counts for none)."""
    used = np.zeros(n_categories + 1, dtype=bool)
    used[category_codes] = True
    return used[:n_categories]


def spread_to_accounts(
    detection: Detection,
    engagements: pd.DataFrame,
    *,
    params: SpreadParams,
    window: pd.DataFrame | None = None,
    creators: pd.Index | None = None,
    rows: AccountRows | None = None,
) -> Detection:
    """Extend a group detector's verdict from an account's caught engagements to all of its others.

    A farm account that engages bought posts in a group also engages honest posts
    to look normal (camouflage); those engagements are just as inflated. An account
    whose share of engagements caught at ``min_caught_score`` or more reaches
    ``min_caught_share`` gets ``spread_weight`` x its strongest score on every
    engagement, with the group that caught it. Honest users caught by chance on
    one post of many stay below the share. A creator's own account (a ``user_id``
    that is a ``creator_id`` of the engagements) spreads nothing: it is a person
    with a public identity and an audience, not a worker of a seller, and what it
    engages outside the group is its own (a pod creator's own likes elsewhere);
    its engagements inside the group keep their own score.
    ``window``: this detector's rows of the whole window's evidence (``spread_part``
    combined) when ``engagements`` are one shard of it; the group is the shard's own, or one with
    the sentence of the account's strongest catch when that lies in another shard
    (``_window_groups``). ``creators``: the window's creators when ``engagements`` are one
    shard of it (an account whose own posts are in another shard is a creator too). ``rows``: the
    engagements' ``account_rows`` (with the same ``creators``), when several detectors spread over them.
    """
    if window is None and not (detection.event_score >= params.min_caught_score).any():
        return detection
    if rows is None:
        rows = account_rows(engagements, creators=creators)
    users, n_users = rows.users, len(rows.n_total)
    n_caught, n_total, strongest, group = _account_evidence(
        detection, engagements, params=params, creators=creators, rows=rows
    )
    groups = detection.groups
    alone = None
    if window is not None:
        own = strongest
        is_alone = (window["detector"] == alone_label(detection.name)).to_numpy(dtype=bool)
        alone, window = window[is_alone], window[~is_alone]
        n_caught, n_total, strongest, sentence = _window_evidence(window, engagements["user_id"], n_users)
        group, groups = _window_groups(detection, group, elsewhere=strongest > own, sentence=sentence)
    spread_score = spread_scores(n_caught, n_total, strongest, params=params)
    if params.window_alone:
        spread_score = np.maximum(
            spread_score,
            _window_alone(detection, engagements, rows, params, creators)
            if alone is None
            else spread_scores(*_window_evidence(alone, engagements["user_id"], n_users)[:3], params=params),
        )
    spread_score = spread_score[users]
    is_raised = np.flatnonzero(spread_score > detection.event_score)
    score = detection.event_score.copy()
    score[is_raised] = spread_score[is_raised]
    event_group = detection.event_group.astype(np.int64)  # a copy
    raised_group = group[users[is_raised]]
    event_group[is_raised] = np.where(raised_group >= 0, raised_group, event_group[is_raised])
    return Detection(detection.name, score, event_group, groups)


def _window_alone(
    detection: Detection,
    engagements: pd.DataFrame,
    rows: AccountRows,
    params: SpreadParams,
    creators: pd.Index | None,
) -> npt.NDArray[np.float64]:
    """Per account code: the score spreading gives it on the window's engagements alone (0 without
    history rows: ``HISTORY_COLUMN``)."""
    found = _window_only(detection, engagements, rows)
    if found is None:
        return np.zeros(len(rows.n_total))
    alone, window_rows = found
    n_caught, n_total, strongest, _ = _account_evidence(
        alone, engagements, params=params, creators=creators, rows=window_rows
    )
    return spread_scores(n_caught, n_total, strongest, params=params)


def _window_only(
    detection: Detection, engagements: pd.DataFrame, rows: AccountRows
) -> tuple[Detection, AccountRows] | None:
    """The detection with history rows' scores 0, and ``rows`` counting each account's window rows
    only; None without a ``HISTORY_COLUMN``."""
    if HISTORY_COLUMN not in engagements:
        return None
    in_window = ~engagements[HISTORY_COLUMN].to_numpy(dtype=bool)
    alone = Detection(
        detection.name,
        np.where(in_window, detection.event_score, 0.0),
        detection.event_group,
        detection.groups,
    )
    window_rows = replace(rows, n_total=np.bincount(rows.users[in_window], minlength=len(rows.n_total)))
    return alone, window_rows


def spread_scores(
    caught: Counts, total: Counts, strongest: npt.NDArray[np.float64], *, params: SpreadParams
) -> npt.NDArray[np.float64]:
    """Per account: the score spreading gives each of its engagements (0: its catches do not spread),
    from its caught and total engagements and its strongest caught score."""
    share = caught / np.maximum(total, 1)
    return np.where(share >= params.min_caught_share, params.spread_weight * strongest, 0.0)


def spread_rows(window: pd.DataFrame, *, params: SpreadParams, names: frozenset[str]) -> pd.DataFrame:
    """Per row of a split window's spreading evidence (``SPREAD_COLUMNS``, combined over the shards)
    of a detector in ``names``: user_id and the score that detector spreads to each of the account's
    engagements (``spread_scores``), where it spreads. A shard's first pass spread with its own
    evidence only (``scaleout``); what these add up to makes an account caught for the seller-IP
    rule as the whole window's spreading does. With ``window_alone`` a detector's window-alone rows
    (``alone_label``) count as the detector's (``detector`` gives it): an account spreads the higher.
    Columns user_id, detector, spread."""
    labels = sorted(names) + ([alone_label(n) for n in sorted(names)] if params.window_alone else [])
    rows = window[window["detector"].isin(labels)]
    score = spread_scores(
        rows["caught"].to_numpy(dtype=np.float64),
        rows["total"].to_numpy(dtype=np.int64),
        rows["strongest"].to_numpy(dtype=np.float64),
        params=params,
    )
    spreads = score > 0
    detector = rows["detector"].astype(str).str.removesuffix(ALONE_SUFFIX).to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "user_id": rows["user_id"].astype(object).to_numpy()[spreads],
            "detector": detector[spreads],
            "spread": score[spreads],
        }
    )


def weight_by_focus(
    detection: Detection,
    engagements: pd.DataFrame,
    *,
    params: SpreadParams,
    focus: pd.Series | None = None,
) -> Detection:
    """Scale a block detector's scores by how much of each account's activity lies in its block.

    A seller's pool account works for the pool: most of what it engages in the
    window is inside the block. A heavy honest user who follows several of the
    block's creators also lands in it, but most of its engagement is elsewhere.
    The factor rises linearly from 0 at ``focus_floor`` to 1 at ``focus_full``
    (share of the account's distinct posts that are block edges). ``focus``: that share per
    account over the whole platform, when ``engagements`` are one shard of a split platform and
    the blocks were found on the platform's graph (``detectors.platform_verdicts``).
    """
    in_block = detection.event_group >= 0
    if not in_block.any():
        return detection
    users = codes(engagements["user_id"])
    n_users = int(users.max()) + 1
    if focus is None:
        share = _focus_share(users, codes(engagements["post_id"]), in_block, n_users=n_users)
    else:
        labels = _labels(engagements["user_id"])[:n_users].astype("str")
        share = focus.reindex(labels).fillna(0.0).to_numpy(dtype=np.float64)
    floor, full = params.focus_floor, params.focus_full
    factor = np.clip((share - floor) / max(full - floor, 1e-9), 0.0, 1.0)[users]
    score = detection.event_score * np.where(in_block, factor, 1.0)
    return Detection(detection.name, score, detection.event_group, detection.groups)


def _focus_share(
    users: npt.NDArray[np.int64],
    posts: npt.NDArray[np.int64],
    in_block: npt.NDArray[np.bool_],
    *,
    n_users: int,
) -> npt.NDArray[np.float64]:
    """Per account code: the share of its distinct posts that are block edges."""
    width = int(posts.max()) + 1
    all_pairs = distinct(users * width + posts)
    block_pairs = distinct(users[in_block] * width + posts[in_block])
    degree = np.bincount(all_pairs // width, minlength=n_users)
    inside = np.bincount(block_pairs // width, minlength=n_users)
    return np.asarray(inside / np.maximum(degree, 1), dtype=np.float64)
