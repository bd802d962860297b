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

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from detectors.spread import SpreadParams, is_creator_account
from features.arrays import codes, distinct

NAME = "ip_farm"


def spread_through_ips(
    detections: list[Detection],
    engagements: pd.DataFrame,
    *,
    structural: frozenset[str],
    params: SpreadParams,
    creators: pd.Index | None = None,
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
    saying how many of its accounts were caught.
    """
    at = next((i for i, d in enumerate(detections) if d.name == NAME), None)
    if at is None or "ip" not in engagements or params.ip_min_caught_share > 1 or not len(engagements):
        return detections
    caught_score = _structural_score(detections, structural)
    creator = (
        is_creator_account(engagements) if "creator_id" in engagements else np.zeros(len(engagements), bool)
    )
    if creators is not None:
        creator |= engagements["user_id"].isin(creators).to_numpy(dtype=bool)
    caught_score[creator] = 0.0
    ips, users = _per_platform(engagements, "ip"), _per_platform(engagements, "user_id")
    seller, strongest, counts = _seller_ips(ips, users, caught_score, params=params)
    if not seller.any():
        return detections
    posts = codes(engagements["post_id"])
    thin = _distinct_posts(users, posts) <= params.ip_light_posts
    row_ip = np.maximum(ips, 0)
    through = (ips >= 0) & seller[row_ip] & (users >= 0) & (posts >= 0)
    served = _caught_on_post(posts, users, through & (caught_score >= params.min_caught_score))
    hit = through & thin[np.maximum(users, 0)] & ~creator
    hit &= served[np.maximum(posts, 0)] >= params.ip_min_post_accounts
    detections = list(detections)
    detections[at] = _raised(detections[at], hit, row_ip, strongest * params.spread_weight, counts, seller)
    return detections


def _per_platform(engagements: pd.DataFrame, column: str) -> npt.NDArray[np.int64]:
    """Codes of ``column`` within each platform (-1 where missing): an address or an account is
    counted on one platform at a time, so a shard holding whole platforms counts as the window."""
    values = codes(engagements[column])
    if "platform" not in engagements:
        return values
    platform = np.maximum(codes(engagements["platform"]), 0)
    has = values >= 0
    key = platform[has] * (int(values.max(initial=-1)) + 1) + values[has]
    # dense codes of the (platform, value) pairs present, in one pass (no sort)
    present = np.zeros(int(key.max(initial=-1)) + 1, dtype=bool)
    present[key] = True
    rank = np.cumsum(present) - 1
    out = np.full(len(values), -1, dtype=np.int64)
    out[has] = rank[key]
    return out


def _structural_score(detections: list[Detection], structural: frozenset[str]) -> npt.NDArray[np.float64]:
    """Per event: the noisy-OR of the ``structural`` detectors' scores."""
    keep = np.ones(len(detections[0].event_score))
    for detection in detections:
        if detection.name in structural:
            keep *= 1.0 - np.clip(detection.event_score, 0.0, 1.0)
    return 1.0 - keep


def _seller_ips(
    ips: npt.NDArray[np.int64],
    users: npt.NDArray[np.int64],
    score: npt.NDArray[np.float64],
    *,
    params: SpreadParams,
) -> tuple[
    npt.NDArray[np.bool_], npt.NDArray[np.float64], tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]
]:
    """Per IP code: whether it is a seller's, its strongest caught score, and (caught, all) accounts."""
    has = (ips >= 0) & (users >= 0)
    n_ips, n_users = int(ips.max(initial=-1)) + 1, int(users.max(initial=-1)) + 1
    pairs = ips[has] * n_users + users[has]
    accounts = np.bincount(distinct(pairs) // n_users, minlength=n_ips)
    is_caught = has & (score >= params.min_caught_score)
    caught = np.bincount(distinct(ips[is_caught] * n_users + users[is_caught]) // n_users, minlength=n_ips)
    strongest = np.zeros(n_ips)
    np.maximum.at(strongest, ips[is_caught], score[is_caught])
    seller = (caught >= params.ip_min_caught_accounts) & (
        caught >= params.ip_min_caught_share * np.maximum(accounts, 1)
    )
    return seller, strongest, (caught, accounts)


def _caught_on_post(
    posts: npt.NDArray[np.int64], users: npt.NDArray[np.int64], caught: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """Per post code: the distinct accounts of the ``caught`` rows on it."""
    n_posts, n_users = int(posts.max(initial=-1)) + 1, int(users.max(initial=-1)) + 1
    return np.bincount(
        distinct(posts[caught] * n_users + users[caught]) // max(n_users, 1), minlength=n_posts
    )


def _distinct_posts(users: npt.NDArray[np.int64], posts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Per account code: its distinct posts."""
    has = (users >= 0) & (posts >= 0)
    width = int(posts.max(initial=-1)) + 1
    n_users = int(users.max(initial=-1)) + 1
    return np.bincount(distinct(users[has] * width + posts[has]) // max(width, 1), minlength=n_users)


def _raised(
    detection: Detection,
    hit: npt.NDArray[np.bool_],
    row_ip: npt.NDArray[np.int64],
    ip_score: npt.NDArray[np.float64],
    counts: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    seller: npt.NDArray[np.bool_],
) -> Detection:
    """``detection`` with ``hit`` rows raised to their IP's score, grouped by seller IP."""
    caught, accounts = counts
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
                " seller groups; a thin account of a seller's IP"
                for c, a in zip(caught[ip_codes], accounts[ip_codes], strict=True)
            ],
        }
    )
    groups = pd.concat([detection.groups, added], ignore_index=True) if len(detection.groups) else added
    return Detection(detection.name, score, group, groups)
