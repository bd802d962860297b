"""End to end: `cpeguard keys create` and `cpeguard serve` as real processes, parallel clients."""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import cli_env, create_key, running_server
from tests.serving.conftest import campaign_terms
from training.simulator import SimulatedSet

pytestmark = pytest.mark.e2e
PERIOD = {"period_start": "2025-03-01T00:00:00Z", "period_end": "2025-04-10T00:00:00Z"}
MAX_BODY_BYTES = 2_000_000


def _env(home: Path, database_url: str | None) -> dict[str, str]:
    settings = {"CPEGUARD_MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    if database_url is not None:
        settings["CPEGUARD_DATABASE_URL"] = database_url
    return cli_env(home, **settings)


@pytest.fixture
def server(tmp_path: Path, database_url: str | None) -> Iterator[tuple[str, dict[str, str]]]:
    """A uvicorn server on a loopback port, and keys made by the CLI."""
    env = _env(tmp_path / "home", database_url)
    keys = {role: create_key(env, role) for role in ("billing", "reviewer")}
    with running_server(env) as base:
        yield base, keys


def test_e2e_settle_once_replay_adjust_audit(server: tuple[str, dict[str, str]], sim: SimulatedSet) -> None:
    base, keys = server
    billing = {"Authorization": f"Bearer {keys['billing']}"}
    reviewer = {"Authorization": f"Bearer {keys['reviewer']}"}
    with httpx.Client(base_url=base, timeout=120) as client:
        for campaign in ("cmp002", "cmp003"):
            terms = campaign_terms(sim.campaigns, campaign)
            assert client.put(f"/v1/campaigns/{campaign}", json=terms, headers=billing).status_code == 200
        events = sim.events[sim.events["campaign_id"].isin(["cmp002", "cmp003"])]
        buffer = io.BytesIO()
        events.to_parquet(buffer, index=False)
        files = {"file": ("events.parquet", buffer.getvalue(), "application/octet-stream")}
        uploaded = client.post("/v1/events", files=files, headers=billing)
        assert uploaded.status_code == 200 and uploaded.json()["accepted"] == events["event_id"].nunique()

        def settle(key: str, campaign: str) -> httpx.Response:
            body = {"campaign_id": campaign, **PERIOD}
            return client.post("/v1/settlements", json=body, headers={**billing, "Idempotency-Key": key})

        with ThreadPoolExecutor(max_workers=8) as pool:
            same_key = list(pool.map(lambda _: settle("same-key", "cmp002"), range(8)))
            other_keys = list(pool.map(lambda i: settle(f"key-{i}", "cmp003"), range(8)))
        assert sorted(r.status_code for r in same_key) == [200] * 7 + [201]
        assert len({r.content for r in same_key}) == 1
        created = [r for r in other_keys if r.status_code == 201]
        assert len(created) == 1 and all(r.status_code == 409 for r in other_keys if r.status_code != 201)
        winner = created[0].json()["settlement_id"]
        assert all(winner in r.json()["detail"] for r in other_keys if r.status_code == 409)

        settlement = same_key[0].json()
        sid = settlement["settlement_id"]
        assert settle("same-key", "cmp002").content == same_key[0].content
        _adjust_once_per_key(client, settlement, reviewer)
        assert client.get(f"/v1/settlements/{sid}", headers=billing).content == same_key[0].content
        trail = client.get("/v1/audit", params={"target": sid}, headers=reviewer).json()
        assert [row["action"] for row in trail] == [
            "settlement.create",
            *["settlement.replay"] * 8,
            "adjustment.clawback",
            "adjustment.replay",
            "adjustment.clawback",
            *["adjustment.replay"] * 5,
        ]
        assert client.get("/metrics").status_code == 200


def _adjust_once_per_key(client: httpx.Client, settlement: dict[str, Any], reviewer: dict[str, str]) -> None:
    """Two clawbacks of a paid post, each replayed (one by six racing requests): each is made once."""
    paid = next(p for p in settlement["posts"] if float(p["payable"]) > 0)
    adjustment = {
        "post_id": paid["post_id"],
        "kind": "clawback",
        "amount": "0.10",
        "reason": "dispute 17",
    }
    url = f"/v1/settlements/{settlement['settlement_id']}/adjustments"
    made = client.post(url, json=adjustment, headers={**reviewer, "Idempotency-Key": "adj-1"})
    assert made.status_code == 201, made.text
    again = client.post(url, json=adjustment, headers={**reviewer, "Idempotency-Key": "adj-1"})
    assert again.status_code == 200 and again.content == made.content
    second = {**adjustment, "amount": "0.05", "reason": "dispute 18"}
    with ThreadPoolExecutor(max_workers=6) as pool:
        racing = list(
            pool.map(
                lambda _: client.post(url, json=second, headers={**reviewer, "Idempotency-Key": "adj-2"}),
                range(6),
            )
        )
    assert sorted(r.status_code for r in racing) == [200] * 5 + [201]
    assert len({r.content for r in racing}) == 1
    assert len(client.get(url, headers=reviewer).json()) == 2


def test_e2e_chunked_body_over_the_limit_is_413(server: tuple[str, dict[str, str]]) -> None:
    base, keys = server
    headers = {"Authorization": f"Bearer {keys['billing']}", "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:
        yield b'{"events": ['
        for _ in range(MAX_BODY_BYTES // 1000 + 10):
            yield b'{"event_id": "' + b"x" * 980 + b'"},'
        yield b"{}]}"

    with httpx.Client(base_url=base, timeout=60) as client:
        request = client.build_request("POST", "/v1/events", content=chunks(), headers=headers)
        assert "content-length" not in request.headers
        answer = client.send(request)
        assert answer.status_code == 413 and f"{MAX_BODY_BYTES} bytes" in answer.json()["detail"]
        assert client.get("/healthz").status_code == 200
