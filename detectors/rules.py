"""Transparent rules: duplicates, device farms, accounts created minutes before engaging."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.base import Detection
from features.accounts import accounts_sharing, duplicated_comments
from features.arrays import codes, distinct
from features.timing import action_triples, burst_excess


def duplicates(engagements: pd.DataFrame) -> Detection:
    """Re-counted engagements (same user, post and action under a new id) score 1."""
    is_recount = engagements["is_recount"].to_numpy(dtype=bool)
    n_dup = int(is_recount.sum())
    groups = pd.DataFrame(
        {
            "group_id": [0],
            "n_accounts": [int(engagements.loc[is_recount, "user_id"].nunique())],
            "n_posts": [int(engagements.loc[is_recount, "post_id"].nunique())],
            "evidence": [f"duplicate: {n_dup} engagements re-counted under new event ids"],
        }
    )
    return Detection(
        name="duplicate",
        event_score=is_recount.astype(np.float64),
        event_group=np.where(is_recount, 0, -1).astype(np.int64),
        groups=groups if n_dup else Detection.empty("duplicate", 0).groups,
    )


def device_farms(
    engagements: pd.DataFrame, *, household_accounts: int = 4, farm_accounts: int = 10
) -> Detection:
    """Events from devices shared by more accounts than a household has.

    A household shares a device between a few accounts; beyond
    ``household_accounts`` the score rises linearly to 1 at ``farm_accounts``.
    """
    n = len(engagements)
    if "device_id" not in engagements or engagements["device_id"].isna().all():
        return Detection.empty("device_farm", n)
    device = codes(engagements["device_id"])
    has_device = device >= 0
    per_device = accounts_sharing(engagements, column="device_id")
    per_event = np.where(has_device, np.nan_to_num(per_device), 0).astype(np.int64)
    span = max(farm_accounts - household_accounts, 1)
    score = np.clip((per_event - household_accounts) / span, 0.0, 1.0)
    in_farm = score > 0
    farm_codes, farm_first = np.unique(device[in_farm], return_index=True)
    group_of = np.full(int(device.max()) + 1, -1, dtype=np.int64)
    group_of[farm_codes] = np.arange(len(farm_codes))
    event_group = np.where(in_farm, group_of[np.maximum(device, 0)], -1).astype(np.int64)
    posts = codes(engagements["post_id"])
    n_posts_of = np.bincount(
        distinct(event_group[in_farm] * (posts.max() + 1) + posts[in_farm]) // (posts.max() + 1),
        minlength=len(farm_codes),
    )
    farm_devices = per_event[np.flatnonzero(in_farm)[farm_first]]
    groups = pd.DataFrame(
        {
            "group_id": np.arange(len(farm_codes), dtype=np.int64),
            "n_accounts": farm_devices.astype(np.int64),
            "n_posts": n_posts_of.astype(np.int64),
        }
    )
    groups["evidence"] = [
        f"device_farm: {a} accounts share one device, engaging {p} posts"
        for a, p in zip(groups["n_accounts"], groups["n_posts"], strict=True)
    ]
    return Detection("device_farm", score, event_group, groups)


def new_accounts(engagements: pd.DataFrame, *, max_age_h: float = 48.0) -> Detection:
    """Events from accounts registered shortly before they engaged.

    Real users also open accounts, so this is weak evidence on its own: the score
    is at most 0.4 (registered minutes before) and fades to 0 at ``max_age_h``.
    """
    n = len(engagements)
    if "user_created_at" not in engagements or engagements["user_created_at"].isna().all():
        return Detection.empty("new_account", n)
    age_h = (engagements["ts"] - engagements["user_created_at"]).dt.total_seconds().to_numpy() / 3600
    age_h = np.where(np.isnan(age_h), np.inf, np.maximum(age_h, 0.0))
    score = 0.4 * np.clip(1.0 - age_h / max_age_h, 0.0, 1.0)
    is_new = score > 0
    groups = pd.DataFrame(
        {
            "group_id": [0],
            "n_accounts": [int(engagements.loc[is_new, "user_id"].nunique())],
            "n_posts": [int(engagements.loc[is_new, "post_id"].nunique())],
            "evidence": [f"new_account: engaged within {max_age_h:.0f} h of registering"],
        }
    )
    return Detection("new_account", score, np.where(is_new, 0, -1).astype(np.int64), groups)


def bursts(engagements: pd.DataFrame, *, weight: float = 0.45, bin_s: float = 120.0) -> Detection:
    """Events surplus to their post's own rhythm inside a short burst (weight x excess share).

    Viral pickups and fan clubs also burst, so a burst alone does not invalidate
    an engagement; it adds to other evidence about the same events.
    """
    n = len(engagements)
    excess = burst_excess(engagements, bin_s=bin_s)
    score = weight * excess
    in_burst = excess >= 0.5
    if not in_burst.any():
        return Detection.empty("burst", n)
    posts, post_ids = pd.factorize(engagements["post_id"])
    burst_posts = np.unique(posts[in_burst])
    group_of_post = np.full(len(post_ids), -1, dtype=np.int64)
    group_of_post[burst_posts] = np.arange(len(burst_posts))
    event_group = np.where(in_burst, group_of_post[posts], -1)
    frame = pd.DataFrame(
        {"g": event_group[in_burst], "u": codes(engagements["user_id"])[in_burst], "x": excess[in_burst]}
    )
    per_group = frame.groupby("g").agg(n=("u", "size"), n_accounts=("u", "nunique"), x=("x", "mean"))
    groups = pd.DataFrame(
        {
            "group_id": per_group.index.to_numpy(dtype=np.int64),
            "n_accounts": per_group["n_accounts"].to_numpy(dtype=np.int64),
            "n_posts": 1,
            "post_id": post_ids[burst_posts],
        }
    )
    ratio = 1.0 / np.maximum(1.0 - per_group["x"].to_numpy(), 1e-3)
    groups["evidence"] = [
        f"burst: {n_} engagements on post {p} inside {bin_s / 60:.0f}-minute windows, "
        f"{r:.0f}x the post's surrounding rate"
        for n_, p, r in zip(per_group["n"], groups["post_id"], ratio, strict=True)
    ]
    return Detection("burst", score, event_group.astype(np.int64), groups)


def scripted_actions(
    engagements: pd.DataFrame, *, triple_weight: float = 0.3, template_weight: float = 0.35
) -> Detection:
    """Like + favorite + comment triples within a minute, and comment texts many accounts repeat.

    Both are what click-farm workers on scripts do; an enthusiastic fan may do
    either, so each is partial evidence (the two together reach 0.55).
    """
    n = len(engagements)
    is_triple = action_triples(engagements)
    is_template = duplicated_comments(engagements)
    if not (is_triple.any() or is_template.any()):
        return Detection.empty("scripted", n)
    score = 1.0 - (1.0 - triple_weight * is_triple) * (1.0 - template_weight * is_template)
    hit = is_triple | is_template
    groups = pd.DataFrame(
        {
            "group_id": [0],
            "n_accounts": [int(engagements.loc[hit, "user_id"].nunique())],
            "n_posts": [int(engagements.loc[hit, "post_id"].nunique())],
            "evidence": [
                f"scripted: {int(is_triple.sum()):,} like+favorite+comment triples within a minute, "
                f"{int(is_template.sum()):,} comments whose text at least 3 accounts repeat"
            ],
        }
    )
    return Detection("scripted", score, np.where(hit, 0, -1).astype(np.int64), groups)


def spread_to_accounts(
    detection: Detection,
    engagements: pd.DataFrame,
    *,
    min_share: float = 0.3,
    min_score: float = 0.5,
    weight: float = 0.9,
) -> Detection:
    """Extend a group detector's verdict from an account's caught engagements to all of its others.

    A farm account that engages bought posts in a group also engages honest posts
    to look normal (camouflage); those engagements are just as inflated. An account
    whose share of engagements caught at ``min_score`` or more reaches
    ``min_share`` gets ``weight`` x its strongest score on every engagement, with
    the group that caught it. Honest users caught by chance on one post of many
    stay below the share.
    """
    caught = detection.event_score >= min_score
    if not caught.any():
        return detection
    users = codes(engagements["user_id"])
    n_users = int(users.max()) + 1
    share = np.bincount(users, weights=caught, minlength=n_users) / np.maximum(
        np.bincount(users, minlength=n_users), 1
    )
    # per account, the strongest caught event and its group (the last such row on ties):
    # assignments in ascending score order leave the strongest one standing
    rows = np.flatnonzero(caught)
    order = rows[np.argsort(detection.event_score[rows], kind="stable")]
    strongest = np.zeros(n_users)
    strongest[users[order]] = detection.event_score[order]
    group = np.full(n_users, -1, dtype=np.int64)
    group[users[order]] = detection.event_group[order]
    spread_score = np.where(share >= min_share, weight * strongest, 0.0)[users]
    is_raised = np.flatnonzero(spread_score > detection.event_score)
    score = detection.event_score.copy()
    score[is_raised] = spread_score[is_raised]
    event_group = detection.event_group.astype(np.int64)  # a copy
    raised_group = group[users[is_raised]]
    event_group[is_raised] = np.where(raised_group >= 0, raised_group, event_group[is_raised])
    return Detection(detection.name, score, event_group, detection.groups)


def weight_by_focus(
    detection: Detection, engagements: pd.DataFrame, *, floor: float = 0.3, full: float = 0.7
) -> Detection:
    """Scale a block detector's scores by how much of each account's activity lies in its block.

    A seller's pool account works for the pool: most of what it engages in the
    window is inside the block. A heavy honest user who follows several of the
    block's creators also lands in it, but most of its engagement is elsewhere.
    The factor rises linearly from 0 at ``floor`` to 1 at ``full`` (share of the
    account's distinct posts that are block edges).
    """
    in_block = detection.event_group >= 0
    if not in_block.any():
        return detection
    users = codes(engagements["user_id"])
    posts = codes(engagements["post_id"])
    width = int(posts.max()) + 1
    n_users = int(users.max()) + 1
    all_pairs = distinct(users * width + posts)
    block_pairs = distinct(users[in_block] * width + posts[in_block])
    degree = np.bincount(all_pairs // width, minlength=n_users)
    inside = np.bincount(block_pairs // width, minlength=n_users)
    focus = inside / np.maximum(degree, 1)
    factor = np.clip((focus - floor) / max(full - floor, 1e-9), 0.0, 1.0)[users]
    score = detection.event_score * np.where(in_block, factor, 1.0)
    return Detection(detection.name, score, detection.event_group, detection.groups)
