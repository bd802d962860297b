"""Fixtures of the review console: a real app with held posts on a real SQLite file or PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from detectors.params import PolicyParams, ScoringParams
from serving.auth import Principal, Role
from serving.io import event_rows
from tests.serving import conftest as serving_fixtures
from tests.serving.conftest import Api, campaign_terms, make_api
from training.simulator import SimulatedSet

# the API tests' fixtures: a small simulated set, and SQLite or a fresh PostgreSQL database
sim = serving_fixtures.sim
database_url = serving_fixtures.database_url
PERIOD = {"period_start": "2025-03-01T00:00:00Z", "period_end": "2025-04-10T00:00:00Z"}
# holding posts with a tenth invalid gives every small simulated campaign several cases
# posts with 2% invalid held with their whole valid rest (the margin covers every risk): held money
# for the console's cases
REVIEW_PARAMS = ScoringParams(policy=PolicyParams(hold_invalid_share=0.02, hold_rest_margin=1.0))
OPEN_CAMPAIGN, CLOSED_CAMPAIGN = "cmp002", "cmp003"
# added to the open campaign: a click farm behind one IP on two posts, and a fan flagged for one
# engagement through the farm's IP whose own engagements on the farm's other (held) post are valid
FARM_POSTS = ("p_farm_first", "p_farm_second")
FARM_ACCOUNTS = tuple(f"u_farm_{i}" for i in range(8))
FLAGGED_FAN = "u_farm_fan"


@dataclass(frozen=True)
class Settled:
    """An app with two settled campaigns: one before its cutoff, one past it."""

    api: Api
    settlements: dict[str, dict[str, Any]]


def load_and_settle(
    client: Any, billing: dict[str, str], sim: SimulatedSet, *, now: datetime
) -> dict[str, dict[str, Any]]:
    """Register two simulated campaigns (cutoff in 3 days, and 1 day ago), ingest and settle them."""
    windows = {
        OPEN_CAMPAIGN: (now - timedelta(days=10), now + timedelta(days=3)),
        CLOSED_CAMPAIGN: (now - timedelta(days=20), now - timedelta(days=1)),
    }
    settled = {}
    for campaign, (start, end) in windows.items():
        terms = {
            **campaign_terms(sim.campaigns, campaign),
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
        }
        assert client.put(f"/v1/campaigns/{campaign}", json=terms, headers=billing).status_code == 200
        ingested = review_events(sim)
        events = ingested[ingested["campaign_id"] == campaign]
        posted = client.post("/v1/events", json={"events": event_rows(events)}, headers=billing)
        assert posted.status_code == 200, posted.text
        answer = client.post(
            "/v1/settlements",
            json={"campaign_id": campaign, **PERIOD},
            headers={**billing, "Idempotency-Key": f"settle-{campaign}"},
        )
        assert answer.status_code == 201, answer.text
        settled[campaign] = answer.json()
    return settled


def review_events(sim: SimulatedSet) -> pd.DataFrame:
    """What the review fixtures ingest: the simulated events and, in the open campaign, a small farm."""
    open_campaign = sim.events[sim.events["campaign_id"] == OPEN_CAMPAIGN]
    return pd.concat([sim.events, farm_with_a_flagged_fan(open_campaign)], ignore_index=True)


def farm_with_a_flagged_fan(events: pd.DataFrame) -> pd.DataFrame:
    """Events of a small IP farm on two new posts of the campaign of ``events``, and a flagged fan.

    Before the farm, the simulated campaign's flagged accounts are farm accounts whose every
    engagement is invalid: no account case there has held money a clear releases. The fan
    (``FLAGGED_FAN``) likes the first farm post once through the farm's IP (ip_farm evidence that
    flags it) and engages the second, held by the farm, four times from its own device and IP
    hours after the farm; those stay valid (a fifth of its engagements caught is below the share
    that spreads a group's verdict to an account's other engagements) and are what clearing it
    releases. The farm's eight accounts are flagged too, with nothing to release.
    """
    first = events.iloc[0]
    start = events["ts"].min().floor("D") + pd.Timedelta(days=2, hours=9)
    old = events["user_created_at"].min()

    def row(n: int, user: str, post: str, action: str, at: pd.Timedelta, *, ip: str) -> dict[str, Any]:
        return {
            "event_id": f"review-farm-{n:03d}",
            "platform": first["platform"],
            "campaign_id": first["campaign_id"],
            "post_id": post,
            "creator_id": "c_farm",
            "user_id": user,
            "action": action,
            "ts": start + at,
            "device_id": f"dev-{user}",
            "ip": ip,
            "user_created_at": old,
            "user_followers": 3,
            "comment_text": f"{user} likes this" if action == "comment" else None,
        }

    rows: list[dict[str, Any]] = []
    for i, user in enumerate(FARM_ACCOUNTS):
        for p, post in enumerate(FARM_POSTS):
            rows.append(
                row(len(rows), user, post, "like", pd.Timedelta(hours=6 * p, seconds=20 * i), ip="ip-farm")
            )
    rows.append(row(len(rows), FLAGGED_FAN, FARM_POSTS[0], "like", pd.Timedelta(seconds=90), ip="ip-farm"))
    for k, action in enumerate(("like", "favorite", "comment", "share")):
        at = pd.Timedelta(days=1, hours=3 * k)
        rows.append(row(len(rows), FLAGGED_FAN, FARM_POSTS[1], action, at, ip=f"ip-{FLAGGED_FAN}"))
    return pd.DataFrame(rows).astype(events.dtypes.to_dict())


def settle_two(
    home: Path, database_url: str | None, sim: SimulatedSet, **overrides: Any
) -> Iterator[Settled]:
    """The app with two settled campaigns with held posts (``overrides``: of its ServiceConfig)."""
    for api in make_api(home, database_url, params=REVIEW_PARAMS, signoff_withheld_share=0.5, **overrides):
        settlements = load_and_settle(api.client, api.billing, sim, now=datetime.now(UTC))
        yield Settled(api=api, settlements=settlements)


@pytest.fixture
def settled(tmp_path: Path, database_url: str | None, sim: SimulatedSet) -> Iterator[Settled]:
    """Two settled campaigns with held posts, on SQLite and on PostgreSQL; every flagged account's case
    queued, and no uncertain sample of accounts the run did not flag."""
    yield from settle_two(
        tmp_path / "home", database_url, sim, review_auto_decide_below=0.0, review_uncertain_share=0.0
    )


@pytest.fixture
def settled_by_policy(tmp_path: Path, database_url: str | None, sim: SimulatedSet) -> Iterator[Settled]:
    """Two settled campaigns with the service's default case policy, on SQLite and on PostgreSQL."""
    yield from settle_two(tmp_path / "home", database_url, sim)


def bearer_secret(headers: dict[str, str]) -> str:
    """The key inside an Authorization header."""
    return headers["Authorization"].removeprefix("Bearer ")


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: TestClient, secret: str) -> str:
    """Sign in through the form; returns the session's CSRF token (from the queue page)."""
    form = client.get("/review/sign-in")
    answer = client.post(
        "/review/sign-in", data={"api_key": secret, "csrf_token": csrf_of(form.text)}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    queue = client.get("/review/queue")
    assert queue.status_code == 200
    return csrf_of(queue.text)


def claim(client: TestClient, case_id: str) -> str:
    """Claim a case through its page's form (viewing locks nothing); the case page after the claim."""
    page = client.get(f"/review/cases/{case_id}").text
    answer = client.post(f"/review/cases/{case_id}/claim", data={"csrf_token": csrf_of(page)})
    assert answer.status_code == 200, answer.text
    return answer.text


def case_ids(html: str) -> list[str]:
    """Case ids in the order the queue lists them."""
    return re.findall(r'data-case-id="([^"]+)"', html)


def principal(client: TestClient, role: str) -> Principal:
    """The first key of a role on the app, as the services see it."""
    keys = client.app.state.services.keys  # type: ignore[attr-defined]
    info = next(k for k in keys.list() if k.role == role and k.revoked_at is None)
    return Principal(key_id=info.key_id, name=info.name, role=Role(info.role))
