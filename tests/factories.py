"""Builders of tiny contract frames for tests."""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.contract import clean_events

BASE_TS = pd.Timestamp("2026-11-02T12:00:00Z")


def raw_event(i: int, **overrides: Any) -> dict[str, Any]:
    """One raw contract event row; ``i`` makes ids and times distinct."""
    row: dict[str, Any] = {
        "event_id": f"e{i}",
        "platform": "douyin",
        "campaign_id": "cmp1",
        "post_id": "p1",
        "creator_id": "k1",
        "user_id": f"u{i}",
        "action": "like",
        "ts": (BASE_TS + pd.Timedelta(minutes=i)).isoformat(),
        "device_id": f"d{i}",
        "ip": f"ip{i}",
        "user_created_at": (BASE_TS - pd.Timedelta(days=400)).isoformat(),
        "user_followers": 10,
        "comment_text": None,
    }
    row.update(overrides)
    return row


def raw_events(n: int, **overrides: Any) -> pd.DataFrame:
    """``n`` raw events with the same overrides."""
    return pd.DataFrame([raw_event(i, **overrides) for i in range(n)])


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """The clean frame of raw events (fails the test on rejects)."""
    cleaned = clean_events(raw, source="test")
    assert cleaned.rejects.empty, cleaned.rejects
    return cleaned.frame


class PlantedLikes:
    """Likes planted by hand, in order: ``like(account, creator, post)`` adds one to the three columns."""

    def __init__(self) -> None:
        self.user: list[str] = []
        self.creator: list[str] = []
        self.post: list[str] = []

    def __call__(self, account: str, creator: str, post: str) -> None:
        self.user.append(account)
        self.creator.append(creator)
        self.post.append(post)
