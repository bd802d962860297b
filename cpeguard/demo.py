"""``cpeguard demo serve``: a fresh home filled with simulated campaigns, settled, ready to review.

The campaigns go through the settlement API exactly as billing sends them (in-process, before the
server starts): registered, their events posted in batches, each settled over its events' days.
Their cutoffs are set a week ahead, so the review cases stay open for the newcomer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from serving.config import ServiceConfig

_BATCH = 20_000
_CUTOFF_AHEAD = timedelta(days=7)


@dataclass(frozen=True)
class DemoHome:
    """What filling a demo home made: the reviewer key (shown once), and the counts."""

    reviewer_key: str
    n_events: int
    n_campaigns: int
    n_held_posts: int
    withheld: str
    held: str


def fill_demo_home(config: ServiceConfig, *, seed: int, scale: float) -> DemoHome:
    """Simulate campaigns, post and settle them through the API of ``config``'s (empty) home."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.auth import Role
    from serving.io import event_rows
    from training.simulator import SimConfig, simulate

    if config.database_url is None and (config.home / "cpeguard.db").exists():
        raise ValueError(f"{config.home}: the demo fills a fresh home, and this one has a cpeguard.db")
    sim = simulate(SimConfig(seed=seed, scale=scale))
    totals = {"held_posts": 0, "withheld": 0.0, "held": 0.0}
    with TestClient(create_app(config), raise_server_exceptions=True) as client:
        keys = client.app.state.services.keys  # type: ignore[attr-defined]
        billing = {"Authorization": f"Bearer {keys.create(role=Role.BILLING, name='demo billing')[1]}"}
        reviewer_key = keys.create(role=Role.REVIEWER, name="demo reviewer")[1]
        for campaign in sim.campaigns.itertuples(index=False):
            events = sim.events.loc[sim.events["campaign_id"] == campaign.campaign_id]
            _register(client, billing, campaign, now=datetime.now(UTC))
            rows = event_rows(events)
            for start in range(0, len(rows), _BATCH):
                posted = client.post(
                    "/v1/events", json={"events": rows[start : start + _BATCH]}, headers=billing
                )
                posted.raise_for_status()
            settled = client.post(
                "/v1/settlements",
                json={
                    "campaign_id": str(campaign.campaign_id),
                    "period_start": _day(events["ts"].min()).isoformat(),
                    "period_end": (_day(events["ts"].max()) + timedelta(days=1)).isoformat(),
                },
                headers={**billing, "Idempotency-Key": f"demo-{campaign.campaign_id}"},
            )
            settled.raise_for_status()
            body = settled.json()
            totals["held_posts"] += sum(1 for p in body["posts"] if float(p["held_amount"]) > 0)
            totals["withheld"] += float(body["totals"]["withheld"])
            totals["held"] += float(body["totals"]["held"])
        client.get("/review/sign-in")  # nothing to wait for: cases open on the first queue view
    return DemoHome(
        reviewer_key=reviewer_key,
        n_events=len(sim.events),
        n_campaigns=len(sim.campaigns),
        n_held_posts=int(totals["held_posts"]),
        withheld=f"{totals['withheld']:.2f}",
        held=f"{totals['held']:.2f}",
    )


def _register(client: object, billing: dict[str, str], campaign: object, *, now: datetime) -> None:
    """PUT the campaign's terms, its cutoff a week from now."""
    row = campaign._asdict()  # type: ignore[attr-defined]
    terms = {
        "platform": "douyin",
        "currency": str(row["currency"]),
        **{f"price_{a}": f"{float(row[f'price_{a}']):.2f}" for a in ("like", "favorite", "comment", "share")},
        "window_start": pd.Timestamp(row["window_start"]).isoformat(),
        "window_end": (now + _CUTOFF_AHEAD).isoformat(),
    }
    answer = client.put(f"/v1/campaigns/{row['campaign_id']}", json=terms, headers=billing)  # type: ignore[attr-defined]
    answer.raise_for_status()


def _day(ts: pd.Timestamp) -> datetime:
    return pd.Timestamp(ts).floor("D").to_pydatetime()


def default_demo_home() -> Path:
    """A fresh folder for a demo home (under the system's temporary folder)."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="cpeguard-demo-"))
