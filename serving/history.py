"""The last settlements, as the weekly money backtest reads them (post lines, events, prices)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.contract import clean_events
from serving.config import ServiceConfig
from serving.db.campaigns import CampaignRepository
from serving.db.database import Database, as_utc
from serving.db.engine import make_engine
from serving.db.settlements import SettlementRepository
from serving.detection import campaigns_frame
from serving.store import EventStore


@dataclass(frozen=True)
class Settled:
    """Post lines of the last settlements, the clean events of their periods, and campaign prices."""

    posts: pd.DataFrame
    events: pd.DataFrame
    campaigns: pd.DataFrame


def last_settlements(config: ServiceConfig, *, limit: int) -> Settled:
    """The ``limit`` latest settlements with their post lines (empty frames when there are none)."""
    engine = make_engine(config.resolved_database_url)
    try:
        db = Database(engine)
        rows = SettlementRepository(db).latest_lines(limit=limit)
        campaigns = campaigns_frame(CampaignRepository(db).campaigns())
    finally:
        engine.dispose()
    columns = [
        "settlement_id",
        "campaign_id",
        "period_start",
        "period_end",
        "post_id",
        "creator_id",
        "payable",
    ]
    posts = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    if posts.empty:
        return Settled(posts=posts, events=pd.DataFrame(), campaigns=campaigns)
    posts["period_start"] = pd.to_datetime([as_utc(t) for t in posts["period_start"]], utc=True)
    posts["period_end"] = pd.to_datetime([as_utc(t) for t in posts["period_end"]], utc=True)
    posts["payable"] = posts["payable"].astype("float64")
    raw = EventStore(config.events_dir).read(
        start=posts["period_start"].min().to_pydatetime(), end=posts["period_end"].max().to_pydatetime()
    )
    events = clean_events(raw, source="event store").frame if not raw.empty else raw
    return Settled(posts=posts, events=events, campaigns=campaigns)
