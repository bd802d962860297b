"""Transparent rules: duplicates, device farms, accounts created minutes before engaging."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.base import Detection


def duplicates(engagements: pd.DataFrame) -> Detection:
    """Re-counted engagements (same user, post and action under a new id) score 1."""
    is_recount = engagements["is_recount"].to_numpy(dtype=bool)
    n_dup = int(is_recount.sum())
    groups = pd.DataFrame({
        "group_id": [0],
        "n_accounts": [int(engagements.loc[is_recount, "user_id"].nunique())],
        "n_posts": [int(engagements.loc[is_recount, "post_id"].nunique())],
        "evidence": [f"duplicate: {n_dup} engagements re-counted under new event ids"],
    })
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
    device = engagements["device_id"]
    has_device = device.notna().to_numpy()
    codes, _ = pd.factorize(device)
    accounts = (
        pd.DataFrame({"d": codes[has_device], "u": engagements["user_id"].to_numpy()[has_device]})
        .drop_duplicates()
        .groupby("d")["u"]
        .size()
    )
    per_event = np.zeros(n, dtype=np.int64)
    per_event[has_device] = accounts.reindex(codes[has_device]).to_numpy()
    span = max(farm_accounts - household_accounts, 1)
    score = np.clip((per_event - household_accounts) / span, 0.0, 1.0)
    farm_devices = accounts[accounts > household_accounts]
    group_of_device = pd.Series(np.arange(len(farm_devices)), index=farm_devices.index)
    event_group = np.full(n, -1, dtype=np.int64)
    in_farm = score > 0
    event_group[in_farm] = group_of_device.reindex(codes[in_farm]).to_numpy()
    posts = (
        pd.DataFrame({"d": codes[in_farm], "p": engagements["post_id"].to_numpy()[in_farm]})
        .groupby("d")["p"]
        .nunique()
        .reindex(farm_devices.index)
        .fillna(0)
        .astype("int64")
    )
    groups = pd.DataFrame({
        "group_id": np.arange(len(farm_devices), dtype=np.int64),
        "n_accounts": farm_devices.to_numpy().astype(np.int64),
        "n_posts": posts.to_numpy(),
    })
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
    groups = pd.DataFrame({
        "group_id": [0],
        "n_accounts": [int(engagements.loc[is_new, "user_id"].nunique())],
        "n_posts": [int(engagements.loc[is_new, "post_id"].nunique())],
        "evidence": [f"new_account: engaged within {max_age_h:.0f} h of registering"],
    })
    return Detection("new_account", score, np.where(is_new, 0, -1).astype(np.int64), groups)
