"""Transparent rules: duplicates, device farms, accounts created minutes before engaging."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from features.account_features import accounts_sharing, duplicated_comments
from features.arrays import codes, distinct
from features.timing import action_triples, burst_excess


@dataclass(frozen=True)
class DuplicateParams:
    """Knobs of the re-count rule."""

    # event score of a re-count (1: invalid on its own, never paid twice)
    score: float = 1.0


@dataclass(frozen=True)
class DeviceFarmParams:
    """Knobs of the shared-device rule."""

    # accounts a household may share one device between without any score
    household_accounts: int = 4
    # accounts on one device at which the score reaches 1
    farm_accounts: int = 10


@dataclass(frozen=True)
class NewAccountParams:
    """Knobs of the new-account rule."""

    # score of an account registered moments before it engaged (weak on its own)
    max_score: float = 0.4
    # account age at engagement, in hours, at which the score has faded to 0
    max_age_h: float = 48.0


@dataclass(frozen=True)
class BurstParams:
    """Knobs of the burst rule and of the burst excess it reads."""

    # event score at full excess (weak: viral pickups and fan clubs burst too)
    weight: float = 0.45
    # width of a post's time bins, in seconds
    bin_s: float = 120.0
    # the post's surrounding rate is taken over this many seconds on either side of a bin
    context_s: float = 1800.0
    # bins with fewer events than this are never a burst
    min_bin_events: int = 10
    # a bin's expected count is never taken below this many events
    min_expected_events: float = 1.0
    # excess share from which an event joins its post's burst group
    min_group_excess: float = 0.5


@dataclass(frozen=True)
class ScriptedParams:
    """Knobs of the scripted-actions rule: action triples and templated comments."""

    # event score of a like + favorite + comment triple
    triple_weight: float = 0.3
    # event score of a templated comment
    template_weight: float = 0.35
    # a triple's three actions fall within this many seconds
    triple_within_s: float = 60.0
    # a comment text is a template once this many accounts post it
    template_min_accounts: int = 3
    # normalised texts shorter than this many characters never count as templates
    template_min_chars: int = 4


def duplicates(engagements: pd.DataFrame, *, params: DuplicateParams) -> Detection:
    """Re-counted engagements (same user, post and action under a new id) score ``params.score``."""
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
        event_score=np.where(is_recount, params.score, 0.0),
        event_group=np.where(is_recount, 0, -1).astype(np.int64),
        groups=groups if n_dup else Detection.empty("duplicate", 0).groups,
    )


def device_farms(
    engagements: pd.DataFrame, *, params: DeviceFarmParams, window_accounts: pd.Series | None = None
) -> Detection:
    """Events from devices shared by more accounts than a household has.

    A household shares a device between a few accounts; beyond
    ``household_accounts`` the score rises linearly to 1 at ``farm_accounts``.
    ``window_accounts`` (per device id: its accounts over the whole window) counts a device's
    accounts when the engagements are one shard of a window (``scaleout``).
    """
    n = len(engagements)
    if "device_id" not in engagements or engagements["device_id"].isna().all():
        return Detection.empty("device_farm", n)
    device = codes(engagements["device_id"])
    has_device = device >= 0
    per_device = accounts_sharing(engagements, column="device_id")
    if window_accounts is not None and len(window_accounts):
        per_device = np.fmax(per_device, _per_event(engagements["device_id"], window_accounts))
    per_event = np.where(has_device, np.nan_to_num(per_device), 0).astype(np.int64)
    span = max(params.farm_accounts - params.household_accounts, 1)
    score = np.clip((per_event - params.household_accounts) / span, 0.0, 1.0)
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


def _per_event(values: pd.Series, per_value: pd.Series) -> npt.NDArray[np.float64]:
    """Per row: ``per_value`` of its value (NaN where missing or not in ``per_value``)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        known = per_value.reindex(values.cat.categories.astype("str")).to_numpy(dtype=np.float64)
        row = codes(values)
        return np.where(row >= 0, known[np.maximum(row, 0)], np.nan)
    return per_value.reindex(values.astype("str").to_numpy()).to_numpy(dtype=np.float64)


def new_accounts(engagements: pd.DataFrame, *, params: NewAccountParams) -> Detection:
    """Events from accounts registered shortly before they engaged.

    Real users also open accounts, so this is weak evidence on its own: the score
    is at most ``max_score`` (registered minutes before) and fades to 0 at ``max_age_h``.
    """
    n = len(engagements)
    if "user_created_at" not in engagements or engagements["user_created_at"].isna().all():
        return Detection.empty("new_account", n)
    age_h = (engagements["ts"] - engagements["user_created_at"]).dt.total_seconds().to_numpy() / 3600
    age_h = np.where(np.isnan(age_h), np.inf, np.maximum(age_h, 0.0))
    score = params.max_score * np.clip(1.0 - age_h / params.max_age_h, 0.0, 1.0)
    is_new = score > 0
    groups = pd.DataFrame(
        {
            "group_id": [0],
            "n_accounts": [int(engagements.loc[is_new, "user_id"].nunique())],
            "n_posts": [int(engagements.loc[is_new, "post_id"].nunique())],
            "evidence": [f"new_account: engaged within {params.max_age_h:.0f} h of registering"],
        }
    )
    return Detection("new_account", score, np.where(is_new, 0, -1).astype(np.int64), groups)


def bursts(engagements: pd.DataFrame, *, params: BurstParams) -> Detection:
    """Events surplus to their post's own rhythm inside a short burst (weight x excess share).

    Viral pickups and fan clubs also burst, so a burst alone does not invalidate
    an engagement; it adds to other evidence about the same events.
    """
    n = len(engagements)
    excess = burst_excess(
        engagements,
        bin_s=params.bin_s,
        context_s=params.context_s,
        min_bin_events=params.min_bin_events,
        min_expected_events=params.min_expected_events,
    )
    score = params.weight * excess
    in_burst = excess >= params.min_group_excess
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
        f"burst: {n_} engagements on post {p} inside {params.bin_s / 60:.0f}-minute windows, "
        f"{r:.0f}x the post's surrounding rate"
        for n_, p, r in zip(per_group["n"], groups["post_id"], ratio, strict=True)
    ]
    return Detection("burst", score, event_group.astype(np.int64), groups)


def scripted_actions(
    engagements: pd.DataFrame,
    *,
    params: ScriptedParams,
    is_triple: npt.NDArray[np.bool_] | None = None,
    window_accounts: pd.Series | None = None,
) -> Detection:
    """Like + favorite + comment triples within a minute, and comment texts many accounts repeat.

    Both are what click-farm workers on scripts do; an enthusiastic fan may do
    either, so each is partial evidence (at the default weights the two together reach 0.55).
    ``is_triple``: ``action_triples(engagements, within_s=params.triple_within_s)`` when the caller
    has it already. ``window_accounts``: per normalised comment text, its accounts over the whole window
    when ``engagements`` are one shard of it (``WindowChance.comment_accounts``).
    """
    n = len(engagements)
    if is_triple is None:
        is_triple = action_triples(engagements, within_s=params.triple_within_s)
    is_template = duplicated_comments(
        engagements,
        min_accounts=params.template_min_accounts,
        min_chars=params.template_min_chars,
        window_accounts=window_accounts,
    )
    if not (is_triple.any() or is_template.any()):
        return Detection.empty("scripted", n)
    score = 1.0 - (1.0 - params.triple_weight * is_triple) * (1.0 - params.template_weight * is_template)
    hit = is_triple | is_template
    groups = pd.DataFrame(
        {
            "group_id": [0],
            "n_accounts": [int(engagements.loc[hit, "user_id"].nunique())],
            "n_posts": [int(engagements.loc[hit, "post_id"].nunique())],
            "evidence": [
                f"scripted: {int(is_triple.sum()):,} like+favorite+comment triples "
                f"within {_duration(params.triple_within_s)}, {int(is_template.sum()):,} comments "
                f"whose text at least {params.template_min_accounts} accounts repeat"
            ],
        }
    )
    return Detection("scripted", score, np.where(hit, 0, -1).astype(np.int64), groups)


def _duration(seconds: float) -> str:
    """A span of seconds as evidence text says it: "a minute", "5 minutes", "90 seconds"."""
    minutes = seconds / 60
    if minutes == 1:
        return "a minute"
    return f"{minutes:g} minutes" if minutes.is_integer() else f"{seconds:g} seconds"
