"""The campaigns the API benchmarks register and settle.

A simulated campaign's terms as the ``PUT /v1/campaigns`` body, and the one campaign
large enough to settle (the simulator has none of 1,000 posts): a second simulated set
(seed 1, scale 2.3), every campaign relabelled ``cmpbig``, ids prefixed, moved one year later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from training.simulator import SimConfig, simulate

PERIOD_START = datetime(2025, 3, 1, tzinfo=UTC)
PERIOD_END = datetime(2025, 5, 1, tzinfo=UTC)
BIG_CAMPAIGN = "cmpbig"
BIG_SEED, BIG_SCALE = 1, 2.3
BIG_SHIFT = timedelta(days=365)
BIG_START = PERIOD_START + BIG_SHIFT
BIG_END = datetime(2026, 6, 1, tzinfo=UTC)


def big_campaign() -> tuple[pd.DataFrame, dict[str, str]]:
    """One campaign of more than 1,000 posts: a simulated set's campaigns merged, a year later."""
    sim = simulate(SimConfig(seed=BIG_SEED, scale=BIG_SCALE))
    events = sim.events.copy()
    events["campaign_id"] = BIG_CAMPAIGN
    events["event_id"] = "big-" + events["event_id"].astype("str")
    events["ts"] = events["ts"] + BIG_SHIFT
    terms = campaign_terms(sim.campaigns, str(sim.campaigns["campaign_id"].iloc[0]))
    terms["window_start"] = BIG_START.isoformat()
    terms["window_end"] = BIG_END.isoformat()
    return events, terms


def campaign_terms(campaigns: pd.DataFrame, campaign_id: str) -> dict[str, str]:
    """A simulated campaign as the PUT /v1/campaigns body."""
    row: Any = campaigns.set_index("campaign_id").loc[campaign_id]
    return {
        "platform": "douyin",
        "currency": str(row["currency"]),
        **{f"price_{a}": f"{float(row[f'price_{a}']):.2f}" for a in ("like", "favorite", "comment", "share")},
        "window_start": row["window_start"].isoformat(),
        "window_end": row["window_end"].isoformat(),
    }
