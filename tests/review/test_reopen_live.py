"""Reopening a decision that moved money, on a real `cpeguard serve` process over HTTP (SQLite and
PostgreSQL): the release is reversed, the reopen form said so before the click, and deciding again
pays the money once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import cli_env, create_key, running_server
from tests.review.conftest import OPEN_CAMPAIGN, case_ids, load_and_settle, sign_in
from training.simulator import SimulatedSet

pytestmark = pytest.mark.e2e
_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Live:
    base: str
    keys: dict[str, str]


@pytest.fixture
def live(tmp_path: Path, database_url: str | None, sim: SimulatedSet) -> Iterator[Live]:
    """`cpeguard serve` on SQLite or PostgreSQL with two settled campaigns; every account case queued."""
    settings = {
        "CPEGUARD_HOLD_INVALID_SHARE": "0.02",
        "CPEGUARD_SIGNOFF_WITHHELD_SHARE": "0.5",
        "CPEGUARD_REVIEW_AUTO_DECIDE_BELOW": "0",
    }
    if database_url is not None:
        settings["CPEGUARD_DATABASE_URL"] = database_url
    env = cli_env(tmp_path / "home", **settings)
    keys = {role: create_key(env, role) for role in ("billing", "reviewer", "admin")}
    with running_server(env) as base, httpx.Client(base_url=base, timeout=300) as client:
        load_and_settle(client, {"Authorization": f"Bearer {keys['billing']}"}, sim, now=datetime.now(UTC))
        yield Live(base=base, keys=keys)


def _net(client: httpx.Client, key: str, settlement_id: str, post_id: str) -> Decimal:
    listed = client.get(
        f"/v1/settlements/{settlement_id}/adjustments", headers={"Authorization": f"Bearer {key}"}
    ).json()
    return sum((Decimal(a["amount"]) for a in listed if a["post_id"] == post_id), _ZERO)


def _decide(client: httpx.Client, csrf: str, case_id: str) -> Any:
    answer = client.post(
        f"/review/cases/{case_id}/decide",
        data={"action": "clear", "note": "organic after all", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return answer


def test_reopen_reverses_the_release_and_deciding_again_pays_once(live: Live) -> None:
    with (
        httpx.Client(base_url=live.base, timeout=120) as reviewer,
        httpx.Client(base_url=live.base, timeout=120) as admin,
    ):
        csrf = sign_in(reviewer, live.keys["reviewer"])  # type: ignore[arg-type]
        csrf_admin = sign_in(admin, live.keys["admin"])  # type: ignore[arg-type]
        case_id = case_ids(reviewer.get(f"/review/queue?kind=post&campaign={OPEN_CAMPAIGN}").text)[0]
        assert reviewer.get(f"/review/cases/{case_id}").status_code == 200
        _decide(reviewer, csrf, case_id)
        decided = admin.get(f"/review/cases/{case_id}").text
        assert (
            'id="reopen-effects"' in decided and "is reversed" in decided and "clawback item" not in decided
        )
        reopened = admin.post(
            f"/review/cases/{case_id}/reopen",
            data={"note": "the brand asks again", "csrf_token": csrf_admin},
            follow_redirects=False,
        )
        assert reopened.status_code == 303, reopened.text
        fresh = str(reopened.headers["location"]).rsplit("/", 1)[-1]
        trail = admin.get(
            "/v1/audit", params={"limit": 1000}, headers={"Authorization": f"Bearer {live.keys['admin']}"}
        ).json()
        reversal = next(e for e in trail if e["action"] == "adjustment.reversal")
        settlement_id, post_id = reversal["target"], reversal["detail"]["post_id"]
        amount = -Decimal(reversal["detail"]["amount"])
        assert amount > 0
        assert _net(admin, live.keys["admin"], settlement_id, post_id) == _ZERO  # reversed
        _decide(reviewer, csrf, fresh)
        assert _net(admin, live.keys["admin"], settlement_id, post_id) == amount  # paid once, not twice
        again = admin.post(
            f"/v1/settlements/{settlement_id}/adjustments",
            json={"post_id": post_id, "kind": "release", "amount": "0.01", "reason": "a third time"},
            headers={"Authorization": f"Bearer {live.keys['reviewer']}", "Idempotency-Key": "third"},
        )
        assert again.status_code == 422  # nothing more is held there
