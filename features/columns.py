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

# Limits of the contract's values, read by the row checks of features.contract and by the
# service's request models, so batch and service refuse the same inputs.
ID_MAX_LENGTH = 128
# Cc: controls (NUL, newline, tab); Cf: format characters (LTR/RTL marks, bidi overrides);
# Zl/Zp: line and paragraph separators. Written for RE2 (pyarrow.compute).
ID_FORBIDDEN_CHARACTERS = r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]"
# a '..' between path separators (or alone) climbs out of a folder built from the id
ID_PATH_PIECE = r"(^|[/\\])\.\.([/\\]|$)"
COUNT_LIMIT = 2**63  # counts are stored as signed 64-bit integers: 0 <= v < 2^63
# a unit price holds 6 decimals; at most 10^6 per engagement keeps a line of up to
# 10^10 engagements inside the service's money columns (Numeric(18, 2), 16 integer digits)
PRICE_DECIMALS = 6
MAX_PRICE = 1_000_000
TS_MIN = pd.Timestamp("2000-01-01", tz="UTC")
TS_MAX = pd.Timestamp("2100-01-01", tz="UTC")  # exclusive
