"""From caught accounts to the IPs they share: a seller's IP carries its verdict to its thin accounts.

A seller runs its pool through a handful of proxies or datacenter addresses and
rotates accounts through them order after order, week after week. Spread thinly
(a drip-fed order of a few accounts per IP per post, most accounts used once or
twice), no one post shows enough accounts behind one IP to pass ``ip_farm``'s
chance test, and an account with one engagement says nothing on its own. What
the window and its history do show is the IP as a whole: most of the distinct
accounts that ever engaged through it were caught in some structural group
(a farm on another post, a pool, a lockstep group, in this week or an earlier
one). A carrier NAT or a café serves hundreds of unrelated users and a household
a few with records of their own, so neither comes near that share; an account
with a record of its own (more than ``ip_light_posts`` distinct posts) keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from detectors.spread import SpreadParams, is_creator_account
from features.arrays import codes, distinct, distinct_per_code, max_per_code, platform_codes

NAME = "ip_farm"
# the structural detectors whose catches mark an address as a bot farm's (``SpreadParams.ip_farm_floors``):
# accounts behind one IP or one device, and co-timed automation; not a ring's or a pool's, whose accounts
# are people's own and share homes and offices with honest users
FARM_EVIDENCE = frozenset({"ip_farm", "device_farm", "lockstep"})
# the evidence of an address that is a seller's only through accounts raised on its other addresses
LATER = " or through the seller's other IPs"

# one shard's part of a split window's seller-IP evidence (``ip_part``): an (platform, ip, user_id) row
# per account seen through an address, ``caught`` 1 when one of its engagements through it was caught
# (``strongest``: its strongest such score), ``farm`` 1 when caught on ``FARM_EVIDENCE`` (0 with
# ``ip_farm_floors`` off); a row without ``ip`` gives the account's distinct posts
IP_PART_COLUMNS = ("platform", "ip", "user_id", "caught", "strongest", "farm", "posts")


@dataclass(frozen=True)
class AddressCodes:
    """What the seller-IP rule and the post-only rule (``detectors.post_only_ips``) read of the
    engagements alone, the same for both and for every round: per engagement its address and account
    codes within its platform (``platform_codes``; -1 missing) and its post code, per account code its
    distinct posts, and per address code its distinct accounts."""

    ips: npt.NDArray[np.int64]
    users: npt.NDArray[np.int64]
    posts: npt.NDArray[np.int64]
    posts_per_account: npt.NDArray[np.int64]
    accounts_per_ip: npt.NDArray[np.int64]


def address_codes(engagements: pd.DataFrame) -> AddressCodes:
    """``AddressCodes`` of ``engagements`` (with an ``ip`` column), taken once for both rules."""
    ips, users = platform_codes(engagements, "ip"), platform_codes(engagements, "user_id")
    posts = codes(engagements["post_id"])
    has = (ips >= 0) & (users >= 0)
    n_ips, n_users = int(ips.max(initial=-1)) + 1, int(users.max(initial=-1)) + 1
    accounts = np.bincount(distinct(ips[has] * n_users + users[has]) // max(n_users, 1), minlength=n_ips)
    return AddressCodes(ips, users, posts, distinct_per_code(users, posts), accounts)


@dataclass(frozen=True)
class SellerIpEvidence:
    """What the whole window shows of the addresses and accounts a shard holds that span shards.

    ``ips``: per (platform, ip), its distinct accounts over the window, the caught ones and their
    strongest caught score, and (read with ``ip_farm_floors`` only) the accounts caught on
    ``FARM_EVIDENCE`` (``farm``) and those with at most ``ip_farm_max_posts`` distinct posts over the
    window (``fresh``); ``posts``: per (platform, user_id), the account's distinct posts over
    the window (a post is in one shard, so the shards' counts add up). The shard's own counts stand
    for the addresses and accounts not listed (they are all in the shard).
    """

    ips: pd.DataFrame  # platform, ip, caught, accounts, strongest (and farm, fresh)
    posts: pd.DataFrame  # platform, user_id, posts
    # the platforms the shard plan split over shards (``scaleout.job``); None: those ``ips`` or ``posts`` list
    split: frozenset[str] | None = None
    # the second round's window (``first_round_raises`` added up over the shards; None: not gathered):
    # ``widened`` per listed address its caught, accounts and strongest once the first round's raised
    # accounts count as caught, ``raised`` per account in several shards its first-round raised score
    widened: pd.DataFrame | None = None  # platform, ip, caught, accounts, strongest
    raised: pd.DataFrame | None = None  # platform, user_id, raised

    def second_round(self) -> SellerIpEvidence:
        """The evidence the second round reads: the addresses' ``widened`` counts (the farm's columns,
        which the rounds do not change, and the accounts' posts stay)."""
        if self.widened is None:
            return self
        key = ["platform", "ip"]
        listed = pd.MultiIndex.from_frame(self.widened[key].astype("str"))
        rest = ~pd.MultiIndex.from_frame(self.ips[key].astype("str")).isin(listed)
        return replace(self, ips=pd.concat([self.widened, self.ips[rest]], ignore_index=True))


def spread_through_ips(
    detections: list[Detection],
    engagements: pd.DataFrame,
    *,
    structural: frozenset[str],
    params: SpreadParams,
    creators: pd.Index | None = None,
    window: SellerIpEvidence | None = None,
    shared: AddressCodes | None = None,
) -> list[Detection]:
    """``detections`` with ``ip_farm`` raised on the thin accounts' engagements through seller IPs.

    Counted per platform (an address's accounts, an account's posts). An IP is a seller's when at
    least ``ip_min_caught_accounts`` of its distinct accounts, and
    ``ip_min_caught_share`` of them, have an engagement that the ``structural`` detectors'
    noisy-OR scores at ``min_caught_score`` or more (a creator's own account counts as neither, and
    is never raised: see ``detectors.spread.spread_to_accounts``; ``creators``: creator ids known
    beyond the engagements, e.g. from the posts table).
    An engagement through it of an account with at most ``ip_light_posts`` distinct posts (the
    window and its history), on a post that at least ``ip_min_post_accounts`` caught accounts
    engaged through seller IPs (the seller's own orders and cover, not a housemate's own
    posts), gets ``spread_weight`` x the IP's strongest caught score, with a group per seller IP
    saying how many of its accounts were caught. With ``ip_farm_floors``, a bot farm's address
    (``_farm_addresses``) is a seller's too, raising its fresh accounts by the farm's floors
    (``_seller_hits``). ``window``: the whole window's counts of the
    addresses and accounts that span shards, when ``engagements`` are one shard of a split platform
    (``ip_part`` added up over the shards). ``shared``: the engagements' ``address_codes``, when the
    caller took them already.
    """
    at = next((i for i, d in enumerate(detections) if d.name == NAME), None)
    if at is None:
        return detections
    prepared = _prepared(
        detections,
        engagements,
        structural=structural,
        params=params,
        creators=creators,
        window=window,
        shared=shared,
    )
    if prepared is None:
        return detections
    found = _rounds(engagements, *prepared, params=params, window=window)
    if found is None:
        return detections
    (hit, strongest, counts, seller, _), first = found
    detections = list(detections)
    row_ip = np.maximum(prepared[0].ips, 0)
    score = strongest * params.spread_weight
    detections[at] = _raised(detections[at], hit, row_ip, score, counts, (seller, seller & ~first))
    return detections


def first_round_raises(
    detections: list[Detection],
    engagements: pd.DataFrame,
    *,
    structural: frozenset[str],
    params: SpreadParams,
    creators: pd.Index | None = None,
    window: SellerIpEvidence | None = None,
    shared: AddressCodes | None = None,
) -> pd.DataFrame:
    """Per account (platform, user_id) the score the rule's first round raises it to (its largest over
    its raised engagements; accounts with one only), as ``spread_through_ips`` raises it with the same
    arguments: one shard's part of the second round's window (``SellerIpEvidence.raised``). Over the
    shards, Spark keeps each account's largest, and recounts the addresses with the raised accounts
    caught on every address they used (``scaleout.window_parts.window_second_round``)."""
    empty = pd.DataFrame({"platform": [], "user_id": [], "raised": []}).astype({"raised": "float64"})
    if not any(d.name == NAME for d in detections):
        return empty
    prepared = _prepared(
        detections,
        engagements,
        structural=structural,
        params=params,
        creators=creators,
        window=window,
        shared=shared,
    )
    found = None if prepared is None else _seller_hits(engagements, *prepared, params=params, window=window)
    if prepared is None or found is None:
        return empty
    rows = prepared[0]
    per_user = _raised_per_account(found, rows, params=params)
    users = np.flatnonzero(per_user > 0)
    first = _first_rows(rows.users, len(per_user))[users]
    return pd.DataFrame(
        {
            "platform": _labels(engagements, "platform", first),
            "user_id": _labels(engagements, "user_id", first),
            "raised": per_user[users],
        }
    )


def _prepared(
    detections: list[Detection],
    engagements: pd.DataFrame,
    *,
    structural: frozenset[str],
    params: SpreadParams,
    creators: pd.Index | None,
    window: SellerIpEvidence | None,
    shared: AddressCodes | None,
) -> tuple[_Rows, npt.NDArray[np.float64]] | None:
    """What every round of the rule reads (``_Rows``) and the caught score per engagement before the
    first; None when the rule cannot run (no address column, no engagement, a share above 1)."""
    if "ip" not in engagements or params.ip_min_caught_share > 1 or not len(engagements):
        return None
    caught_score, creator = _caught_scores(detections, engagements, structural=structural, creators=creators)
    coded = address_codes(engagements) if shared is None else shared
    ips, users, posts, n_posts = coded.ips, coded.users, coded.posts, coded.posts_per_account
    if window is not None:
        n_posts = _window_per_account(engagements, users, window.posts, own=n_posts, column="posts")
    thin = (n_posts <= params.ip_light_posts)[np.maximum(users, 0)] & ~creator & (users >= 0)
    farm = np.zeros(len(coded.accounts_per_ip), dtype=bool)
    if params.ip_farm_floors:
        farm_score = _farm_scores(detections, engagements, structural=structural, creators=creators)
        farm = _farm_addresses(engagements, coded, farm_score, n_posts, params=params, window=window)
    whole = _whole_account_rows(engagements, window)
    fresh = thin & (n_posts <= params.ip_farm_max_posts)[np.maximum(users, 0)]
    return _Rows(ips, users, posts, thin, whole, coded.accounts_per_ip, farm, fresh), caught_score


def _rounds(
    engagements: pd.DataFrame,
    rows: _Rows,
    caught_score: npt.NDArray[np.float64],
    *,
    params: SpreadParams,
    window: SellerIpEvidence | None,
) -> tuple[_Hits, npt.NDArray[np.bool_]] | None:
    """``_seller_hits`` after ``ip_rounds`` rounds, and the first round's sellers: from the second round
    on, a thin account raised through a seller's address is the seller's on every address it used, at
    its raised score. On a platform split over shards, the second round reads the window's second round
    when the job gathered it (``SellerIpEvidence.widened``, ``raised``: every shard's first-round raises,
    so it is the whole window's); without it, and from the third round on, only an account whose
    engagements are all in this shard is raised everywhere (one in several may be raised in another)
    and an address in several keeps the window's counts of the round it has, so a split platform's
    shard can catch less, never more. A round that finds no new seller ends them with the round
    before; with ``ip_rounds_keep_widened`` only a round that changes nothing does (``_changed``), so
    each platform's rounds run as when it is scored alone."""
    gathered = window is not None and window.raised is not None
    found = _seller_hits(engagements, rows, caught_score, params=params, window=window)
    if found is None and gathered:  # a shard without a seller of its own: another shard's may raise here
        found = _no_hits(rows)
    if found is None:
        return None
    first = found[3]
    for round_ in range(params.ip_rounds - 1 if rows.whole.any() or gathered else 0):
        per_user = _raised_per_account(found, rows, params=params)
        may_raise = rows.thin & rows.whole
        if gathered and window is not None and round_ == 0:  # every shard's raises: the window's round
            per_user = np.maximum(per_user, _window_raised(engagements, rows.users, window, own=per_user))
            may_raise = rows.thin
        raised = per_user[np.maximum(rows.users, 0)]
        caught_score = np.maximum(caught_score, np.where(may_raise, raised, 0.0))
        later = window.second_round() if window is not None else None
        widened = _seller_hits(engagements, rows, caught_score, params=params, window=later)
        if widened is None or not _changed(found, widened, every=params.ip_rounds_keep_widened):
            break  # the round before's rows, scores and counts stand
        found = widened
    return (found, first) if found[3].any() else None


def _no_hits(rows: _Rows) -> _Hits:
    """A round that raised nothing and found no seller."""
    none = np.zeros(len(rows.accounts), dtype=bool)
    counts = (np.zeros(len(rows.accounts), dtype=np.int64), rows.accounts)
    return np.zeros(len(rows.ips), dtype=bool), np.zeros(len(rows.accounts)), counts, none, none


def _raised_per_account(found: _Hits, rows: _Rows, *, params: SpreadParams) -> npt.NDArray[np.float64]:
    """Per account code the score a round's hits raise it to: the largest over its hit rows (0 without;
    a hit row has both codes)."""
    hit, strongest = found[0], found[1]
    at = np.flatnonzero(hit)
    per_user = np.zeros(int(rows.users.max(initial=-1)) + 1)
    top = max_per_code(rows.users[at], strongest[rows.ips[at]] * params.spread_weight)
    per_user[: len(top)] = top
    return per_user


def _window_raised(
    engagements: pd.DataFrame,
    users: npt.NDArray[np.int64],
    window: SellerIpEvidence,
    *,
    own: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Per account code its first-round raised score over the window (``window.raised``) where listed,
    else ``own``."""
    raised = (
        window.raised
        if window.raised is not None
        else pd.DataFrame({"platform": [], "user_id": [], "raised": []})
    )
    return _window_per_account(engagements, users, raised, own=own, column="raised")


def _changed(before: _Hits, after: _Hits, *, every: bool) -> bool:
    """Whether a round found a new seller, by main's floors or a farm's (``ip_farm_floors``: an address a
    farm's in the round before may become a seller's by main's floors through its raised accounts); with
    ``every``, or changed anything else: its rows hit, an address's strongest score or counts. A round
    that changes nothing is the last (the next would be the same), so a platform's raises, scores and
    sentences do not hang on another platform's sellers."""

    def compared(hits: _Hits) -> tuple[npt.NDArray[Any], ...]:
        hit, strongest, (caught, accounts), seller, main = hits
        return (seller, main, hit, strongest, caught, accounts) if every else (seller, main)

    return not all(np.array_equal(a, b) for a, b in zip(compared(before), compared(after), strict=True))


# what a round of the rule raises: rows hit, per IP code the strongest caught score, (caught, all)
# accounts, whether it is a seller's, and whether by main's floors (the same without ``ip_farm_floors``)
_Hits = tuple[
    npt.NDArray[np.bool_],
    npt.NDArray[np.float64],
    tuple[Any, Any],
    npt.NDArray[np.bool_],
    npt.NDArray[np.bool_],
]


@dataclass(frozen=True)
class _Rows:
    """Per engagement: its address, account and post codes (-1 missing; per platform for the first
    two), whether its account is thin and not a creator's (one that may be raised), and whether every
    engagement of its account is in these (``_whole_account_rows``); per address code its distinct
    accounts (the same in every round); per address code whether it is a bot farm's
    (``_farm_addresses``, the same in every round; none when ``ip_farm_floors`` is off), and per engagement
    whether its account is thin with at most ``ip_farm_max_posts`` posts."""

    ips: npt.NDArray[np.int64]
    users: npt.NDArray[np.int64]
    posts: npt.NDArray[np.int64]
    thin: npt.NDArray[np.bool_]
    whole: npt.NDArray[np.bool_]  # every engagement of its account is in these (``_whole_account_rows``)
    accounts: npt.NDArray[np.int64]
    farm: npt.NDArray[np.bool_]
    fresh: npt.NDArray[np.bool_]


def _whole_account_rows(engagements: pd.DataFrame, window: SellerIpEvidence | None) -> npt.NDArray[np.bool_]:
    """Per engagement: every engagement of its account is in ``engagements``: its platform is not split
    over shards, or the account is in this shard alone (``window.posts`` lists those in several)."""
    whole = ~split_platform_rows(engagements, window)
    if window is None or "platform" not in engagements:
        return whole
    if not len(window.posts):  # no account of these in several shards (a platform split between worlds)
        return np.ones(len(engagements), dtype=bool)
    spanning = pd.MultiIndex.from_frame(window.posts[["platform", "user_id"]].astype("str"))
    key = pd.MultiIndex.from_arrays(
        [engagements["platform"].astype("str"), engagements["user_id"].astype("str")]
    )
    return whole | (spanning.get_indexer(key) < 0)


def split_platform_rows(engagements: pd.DataFrame, window: SellerIpEvidence | None) -> npt.NDArray[np.bool_]:
    """Per engagement: its platform is split over shards, as the shard plan says (``window.split``), or
    without the plan's word as ``window`` shows it (it lists an address or an account of the platform:
    they span shards; a platform split between worlds may list none); none without ``window``."""
    if window is None:
        return np.zeros(len(engagements), dtype=bool)
    listed = pd.concat([window.ips["platform"], window.posts["platform"]]).astype("str").unique()
    if window.split is not None:
        listed = np.asarray(sorted(window.split), dtype=object)
    if "platform" not in engagements:
        return np.full(len(engagements), len(listed) > 0)
    return engagements["platform"].astype("str").isin(listed).to_numpy(dtype=bool)


def _seller_hits(
    engagements: pd.DataFrame,
    rows: _Rows,
    caught_score: npt.NDArray[np.float64],
    *,
    params: SpreadParams,
    window: SellerIpEvidence | None,
) -> _Hits | None:
    """The rows a seller's address raises given ``caught_score``, with its per-IP strongest caught score,
    (caught, all) accounts, seller flags and main's floors' seller flags; None when no address is a
    seller's."""
    ips, users, posts = rows.ips, rows.users, rows.posts
    strongest, counts = _ip_counts(ips, users, caught_score, accounts=rows.accounts, params=params)
    if window is not None:
        strongest, counts = _window_ips(engagements, ips, window.ips, strongest=strongest, counts=counts)
    farm, main = rows.farm, _is_seller(counts, params=params)
    seller = main | farm
    if not seller.any():
        return None
    row_ip = np.maximum(ips, 0)
    through = (ips >= 0) & seller[row_ip] & (users >= 0) & (posts >= 0)
    caught = through & (caught_score >= params.min_caught_score)
    row_post = np.maximum(posts, 0)
    # a farm's fresh accounts by the farm's floors (caught accounts through any seller's address); every
    # account of a seller's address by main's (caught accounts through the addresses main's floors find)
    served = _caught_on_post(posts, users, caught)[row_post]
    by_farm = farm[row_ip] & rows.fresh & (served >= params.ip_farm_min_post_accounts)
    served_main = served if not farm.any() else _caught_on_post(posts, users, caught & main[row_ip])[row_post]
    by_seller = main[row_ip] & (served_main >= params.ip_min_post_accounts)
    hit = through & rows.thin & (by_farm | by_seller)
    return hit, strongest, counts, seller, main


def _farm_addresses(
    engagements: pd.DataFrame,
    coded: AddressCodes,
    farm_score: npt.NDArray[np.float64],
    n_posts: npt.NDArray[np.int64],
    *,
    params: SpreadParams,
    window: SellerIpEvidence | None,
) -> npt.NDArray[np.bool_]:
    """Per IP code: a bot farm's address. ``ip_farm_min_caught_accounts`` of its accounts, and
    ``ip_min_caught_share`` of them, caught on ``FARM_EVIDENCE`` (``farm_score`` per engagement); and
    the shape of a farm, not a home: at least ``ip_farm_min_accounts`` accounts, of which
    ``ip_farm_min_fresh_share`` have at most ``ip_farm_max_posts`` distinct posts (``n_posts`` per
    account code). Counted over the window for the addresses ``window`` lists (they span shards)."""
    ips, users = coded.ips, coded.users
    _, (caught, accounts) = _ip_counts(ips, users, farm_score, accounts=coded.accounts_per_ip, params=params)
    is_fresh = (n_posts <= params.ip_farm_max_posts)[np.maximum(users, 0)]
    fresh = _accounts_per_ip(ips, users, is_fresh, n_ips=len(accounts))
    if window is not None:
        caught, accounts, fresh = _window_per_ip(
            engagements, ips, window.ips, {"farm": caught, "accounts": accounts, "fresh": fresh}
        )
    return (
        (caught >= params.ip_farm_min_caught_accounts)
        & (caught >= params.ip_min_caught_share * np.maximum(accounts, 1))
        & (accounts >= params.ip_farm_min_accounts)
        & (fresh >= params.ip_farm_min_fresh_share * accounts)
    )


def _accounts_per_ip(
    ips: npt.NDArray[np.int64], users: npt.NDArray[np.int64], where: npt.NDArray[np.bool_], *, n_ips: int
) -> npt.NDArray[np.int64]:
    """Per IP code: the distinct accounts of the ``where`` rows through it (-1 codes left out)."""
    has = (ips >= 0) & (users >= 0) & where
    n_users = int(users.max(initial=-1)) + 1
    return np.bincount(distinct(ips[has] * n_users + users[has]) // max(n_users, 1), minlength=n_ips)


def _structural_score(
    detections: list[Detection], structural: frozenset[str], *, n_events: int
) -> npt.NDArray[np.float64]:
    """Per event: the noisy-OR of the ``structural`` detectors' scores (0 with no detector on)."""
    keep = np.ones(n_events)
    for detection in detections:
        if detection.name in structural:
            keep *= 1.0 - np.clip(detection.event_score, 0.0, 1.0)
    return 1.0 - keep


def _caught_scores(
    detections: list[Detection],
    engagements: pd.DataFrame,
    *,
    structural: frozenset[str],
    creators: pd.Index | None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Per event: the structural score that counts an account as caught (none for a creator's own
    account), and whether the account is a creator's."""
    caught_score = _structural_score(detections, structural, n_events=len(engagements))
    creator = (
        is_creator_account(engagements) if "creator_id" in engagements else np.zeros(len(engagements), bool)
    )
    if creators is not None:
        creator |= engagements["user_id"].isin(creators).to_numpy(dtype=bool)
    caught_score[creator] = 0.0
    return caught_score, creator


def _farm_scores(
    detections: list[Detection],
    engagements: pd.DataFrame,
    *,
    structural: frozenset[str],
    creators: pd.Index | None,
) -> npt.NDArray[np.float64]:
    """Each engagement's noisy-OR score on the ``structural`` detectors that are ``FARM_EVIDENCE``."""
    evidence = structural & FARM_EVIDENCE
    return _caught_scores(detections, engagements, structural=evidence, creators=creators)[0]


def _ip_counts(
    ips: npt.NDArray[np.int64],
    users: npt.NDArray[np.int64],
    score: npt.NDArray[np.float64],
    *,
    accounts: npt.NDArray[np.int64],
    params: SpreadParams,
) -> tuple[npt.NDArray[np.float64], tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Per IP code: its strongest caught score, and (caught, all) accounts (``accounts``: all, per IP
    code, ``AddressCodes.accounts_per_ip``)."""
    has = (ips >= 0) & (users >= 0)
    n_ips = len(accounts)
    is_caught = has & (score >= params.min_caught_score)
    caught = _accounts_per_ip(ips, users, is_caught, n_ips=n_ips)
    strongest = np.zeros(n_ips)
    np.maximum.at(strongest, ips[is_caught], score[is_caught])
    return strongest, (caught, accounts)


def _is_seller(
    counts: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]], *, params: SpreadParams
) -> npt.NDArray[np.bool_]:
    """Per IP code: whether enough of its accounts, and a large enough share, were caught."""
    caught, accounts = counts
    return (caught >= params.ip_min_caught_accounts) & (
        caught >= params.ip_min_caught_share * np.maximum(accounts, 1)
    )


def _caught_on_post(
    posts: npt.NDArray[np.int64], users: npt.NDArray[np.int64], caught: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """Per post code: the distinct accounts of the ``caught`` rows on it."""
    n_posts, n_users = int(posts.max(initial=-1)) + 1, int(users.max(initial=-1)) + 1
    return np.bincount(
        distinct(posts[caught] * n_users + users[caught]) // max(n_users, 1), minlength=n_posts
    )


def _raised(
    detection: Detection,
    hit: npt.NDArray[np.bool_],
    row_ip: npt.NDArray[np.int64],
    ip_score: npt.NDArray[np.float64],
    counts: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    sellers: tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]],
) -> Detection:
    """``detection`` with ``hit`` rows raised to their IP's score, grouped by seller IP (``sellers``: per IP
    code, whether it is a seller's, and whether it became one only through its raised accounts)."""
    (caught, accounts), (seller, later) = counts, sellers
    ip_codes = np.flatnonzero(seller)
    base = int(detection.groups["group_id"].max()) + 1 if len(detection.groups) else 0
    group_of_ip = np.full(len(seller), -1, dtype=np.int64)
    group_of_ip[ip_codes] = base + np.arange(len(ip_codes))
    rows = np.flatnonzero(hit & (ip_score[row_ip] > detection.event_score))
    score, group = detection.event_score.copy(), detection.event_group.astype(np.int64)
    score[rows] = ip_score[row_ip[rows]]
    group[rows] = group_of_ip[row_ip[rows]]
    added = pd.DataFrame(
        {
            "group_id": group_of_ip[ip_codes],
            "n_accounts": caught[ip_codes].astype(np.int64),
            "n_posts": 0,
            "evidence": [
                f"{NAME}: {c} of the {a} accounts that engaged through this account's IP were caught in"
                f" seller groups{LATER if widened else ''}; a thin account of a seller's IP"
                for c, a, widened in zip(caught[ip_codes], accounts[ip_codes], later[ip_codes], strict=True)
            ],
        }
    )
    groups = pd.concat([detection.groups, added], ignore_index=True) if len(detection.groups) else added
    return Detection(detection.name, score, group, groups)


def ip_part(
    detections: list[Detection],
    engagements: pd.DataFrame,
    *,
    structural: frozenset[str],
    params: SpreadParams,
    creators: pd.Index | None = None,
) -> pd.DataFrame:
    """One shard's part of the window's seller-IP evidence, as ``IP_PART_COLUMNS``.

    Per (platform, ip, account) seen in the shard: whether one of its engagements through the address
    was caught as ``spread_through_ips`` counts it, the strongest such score, and whether it was caught
    on ``FARM_EVIDENCE`` (with ``ip_farm_floors``); per (platform,
    account): its distinct posts in the shard. Spark keeps the largest per (platform, ip, account)
    over the shards, then counts per address, and adds the posts up (``SellerIpEvidence``).
    """
    if "ip" not in engagements or not len(engagements):
        return pd.DataFrame(columns=list(IP_PART_COLUMNS))
    score, _ = _caught_scores(detections, engagements, structural=structural, creators=creators)
    farm = np.zeros(len(engagements))
    if params.ip_farm_floors:
        farm = _farm_scores(detections, engagements, structural=structural, creators=creators)
    ips, users = platform_codes(engagements, "ip"), platform_codes(engagements, "user_id")
    has = (ips >= 0) & (users >= 0)
    n_users = int(users.max(initial=-1)) + 1
    pair = ips * n_users + users
    caught = np.where(score >= params.min_caught_score, score, 0.0)
    is_farm = (farm >= params.min_caught_score).astype(np.int64)
    per_pair = pd.DataFrame(
        {"pair": pair[has], "row": np.flatnonzero(has), "strongest": caught[has], "farm": is_farm[has]}
    )
    per_pair = per_pair.groupby("pair", sort=True).agg(
        row=("row", "first"), strongest=("strongest", "max"), farm=("farm", "max")
    )
    rows = per_pair["row"].to_numpy()
    strongest = per_pair["strongest"].to_numpy()
    through = pd.DataFrame(
        {
            "platform": _labels(engagements, "platform", rows),
            "ip": _labels(engagements, "ip", rows),
            "user_id": _labels(engagements, "user_id", rows),
            "caught": (strongest > 0).astype(np.int64),
            "strongest": strongest,
            "farm": per_pair["farm"].to_numpy(dtype=np.int64),
        }
    )
    n_posts = distinct_per_code(users, codes(engagements["post_id"]))
    first = _first_rows(users, n_users)
    posts = pd.DataFrame(
        {
            "platform": _labels(engagements, "platform", first),
            "user_id": _labels(engagements, "user_id", first),
            "posts": n_posts[: len(first)].astype(np.int64),
        }
    )
    return pd.concat([through, posts], ignore_index=True).reindex(columns=list(IP_PART_COLUMNS))


def _first_rows(values: npt.NDArray[np.int64], n_codes: int) -> npt.NDArray[np.int64]:
    """Per code of ``values`` (0 .. n_codes - 1, -1 missing): the first row that has it."""
    at = np.flatnonzero(values >= 0)[::-1]
    first = np.zeros(n_codes, dtype=np.int64)
    first[values[at]] = at
    return first


def _labels(engagements: pd.DataFrame, column: str, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """``column``'s values at ``rows`` as strings ("" for a window without the column)."""
    if column not in engagements:
        return np.full(len(rows), "", dtype=object)
    return engagements[column].iloc[rows].astype("str").to_numpy(dtype=object)


def _window_ips(
    engagements: pd.DataFrame,
    ips: npt.NDArray[np.int64],
    window: pd.DataFrame,
    *,
    strongest: npt.NDArray[np.float64],
    counts: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
) -> tuple[npt.NDArray[np.float64], tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """The shard's per-IP counts with the window's where ``window`` lists the address."""
    columns = {"strongest": strongest, "caught": counts[0], "accounts": counts[1]}
    strongest, caught, accounts = _window_per_ip(engagements, ips, window, columns)
    return strongest, (caught, accounts)


def _window_per_ip(
    engagements: pd.DataFrame,
    ips: npt.NDArray[np.int64],
    window: pd.DataFrame,
    columns: dict[str, npt.NDArray[Any]],
) -> list[npt.NDArray[Any]]:
    """Each of the shard's per-IP ``columns`` (name: per IP code) with the window's column of that name
    where ``window`` lists the address."""
    first = _first_rows(ips, len(next(iter(columns.values()))))
    key = pd.MultiIndex.from_arrays(
        [_labels(engagements, "platform", first), _labels(engagements, "ip", first)]
    )
    at = pd.MultiIndex.from_frame(window[["platform", "ip"]].astype("str")).get_indexer(key)
    has = at >= 0
    out = []
    for name, own in columns.items():
        joined = own.copy()
        joined[has] = window[name].to_numpy(dtype=own.dtype)[at[has]]
        out.append(joined)
    return out


def _window_per_account(
    engagements: pd.DataFrame,
    users: npt.NDArray[np.int64],
    window: pd.DataFrame,
    *,
    own: npt.NDArray[Any],
    column: str,
) -> npt.NDArray[Any]:
    """The shard's per-account ``own`` values (per account code) with the window's ``column`` where
    ``window`` (platform, user_id, ``column``) lists the account: its distinct posts, its raised score."""
    first = _first_rows(users, len(own))
    key = pd.MultiIndex.from_arrays(
        [_labels(engagements, "platform", first), _labels(engagements, "user_id", first)]
    )
    at = pd.MultiIndex.from_frame(window[["platform", "user_id"]].astype("str")).get_indexer(key)
    has = at >= 0
    out = own.copy()
    out[has] = window[column].to_numpy(dtype=own.dtype)[at[has]]
    return out
