"""The data contract's column lists and types (shared/design/DATA_CONTRACT.md).

Plain constants, so that reading and scoring need not import pandera; the
pandera models of the clean frames live in :mod:`features.schema`.
"""

from __future__ import annotations

import pandas as pd

TS_DTYPE = pd.DatetimeTZDtype(unit="us", tz="UTC")
PAID_ACTIONS: tuple[str, ...] = ("like", "favorite", "comment", "share")
KNOWN_PLATFORMS: tuple[str, ...] = ("douyin", "kuaishou", "xiaohongshu", "channels")

EVENT_REQUIRED: tuple[str, ...] = (
    "event_id",
    "platform",
    "campaign_id",
    "post_id",
    "creator_id",
    "user_id",
    "action",
    "ts",
)
EVENT_OPTIONAL: tuple[str, ...] = (
    "device_id",
    "ip",
    "user_created_at",
    "user_followers",
    "comment_text",
)
POST_REQUIRED: tuple[str, ...] = ("post_id", "creator_id", "campaign_id", "platform", "published_at")
POST_OPTIONAL: tuple[str, ...] = ("views", "studio_id")
CAMPAIGN_REQUIRED: tuple[str, ...] = (
    "campaign_id",
    "currency",
    "price_like",
    "price_favorite",
    "price_comment",
    "price_share",
)
CAMPAIGN_OPTIONAL: tuple[str, ...] = ("window_start", "window_end")
