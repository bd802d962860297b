"""Settlement operations: idempotent adjustments, sign-off, interrupted runs, chunked 413, audit, caches."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from serving.audit import AuditLog
from serving.auth import Principal, Role
from serving.db.database import utcnow
from serving.db.engine import make_engine, migrate
from serving.db.models import DetectionRun, SettlementRequest
from serving.db.repositories import Repositories
from serving.io import event_rows
from serving.keys import KeyService
from serving.settlement import _request_hash
from serving.verdicts import events_hash
from tests.serving.conftest import Api, campaign_terms, make_api
from tests.serving.test_api import CAMPAIGN, PERIOD, SETTLE, _load, _settle
from training.simulator import SimulatedSet


def _repositories(api: Api) -> Repositories:
    return api.client.app.state.services.db  # type: ignore[attr-defined,no-any-return]


def test_adjustment_idempotency_key_replays_and_conflicts(api: Api, sim: SimulatedSet) -> None:
    _load(api, sim)
    settlement = _settle(api, "key-1").json()
    url = f"/v1/settlements/{settlement['settlement_id']}/adjustments"
    paid = next(p for p in settlement["posts"] if float(p["payable"]) > 0)
    body = {"post_id": paid["post_id"], "kind": "clawback", "amount": "0.25", "reason": "dispute 9"}
    headers = {**api.reviewer, "Idempotency-Key": "adj-1"}
    made = api.client.post(url, json=body, headers=headers)
    assert made.status_code == 201, made.text
    replay = api.client.post(url, json=body, headers={**api.admin, "Idempotency-Key": "adj-1"})
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == made.content
    other = api.client.post(url, json={**body, "amount": "0.26"}, headers=headers)
    assert other.status_code == 409
    assert (
        "different body" in other.json()["detail"] and made.json()["adjustment_id"] in other.json()["detail"]
    )
    listed = api.client.get(url, headers=api.billing).json()
    assert [a["adjustment_id"] for a in listed] == [made.json()["adjustment_id"]]
    trail = api.client.get("/v1/audit", params={"target": settlement["settlement_id"]}, headers=api.admin)
    assert [r["action"] for r in trail.json()] == [
        "settlement.create",
        "adjustment.clawback",
        "adjustment.replay",
    ]


def test_signoff_of_a_capped_settlement_is_recorded_once(
    tmp_path: Path, database_url: str | None, sim: SimulatedSet
) -> None:
    for api in make_api(tmp_path / "home", database_url, signoff_withheld_share=0.0):
        _load(api, sim)
        first = _settle(api, "key-1")
        settlement = first.json()
        assert settlement["status"] == "needs_signoff"
        url = f"/v1/settlements/{settlement['settlement_id']}/signoff"
        assert api.client.get(url, headers=api.billing).status_code == 404
        note = {"note": "held posts checked: bought likes"}
        assert api.client.post(url, json=note, headers=api.billing).status_code == 403
        assert api.client.post(url, json={"note": ""}, headers=api.reviewer).status_code == 422
        signed = api.client.post(url, json=note, headers=api.reviewer)
        assert signed.status_code == 201, signed.text
        assert signed.json()["settlement_id"] == settlement["settlement_id"]
        assert signed.json()["role"] == "reviewer"
        again = api.client.post(url, json=note, headers=api.admin)
        assert again.status_code == 409 and signed.json()["signoff_id"] in again.json()["detail"]
        assert api.client.get(url, headers=api.billing).json() == signed.json()
        unchanged = api.client.get(f"/v1/settlements/{settlement['settlement_id']}", headers=api.billing)
        assert unchanged.content == first.content
        trail = api.client.get("/v1/audit", params={"target": settlement["settlement_id"]}, headers=api.admin)
        assert [r["action"] for r in trail.json()] == ["settlement.create", "settlement.signoff"]
        with (
            pytest.raises(Exception, match="append-only"),
            _repositories(api).database.engine.begin() as connection,
        ):
            connection.execute(text("UPDATE settlement_signoffs SET note = 'x'"))
        # nothing withheld: no sign-off needed
        empty = _settle(
            api,
            "key-2",
            {**SETTLE, "period_start": "2024-01-01T00:00:00Z", "period_end": "2024-02-01T00:00:00Z"},
        ).json()
        assert empty["status"] == "settled"
        refused = api.client.post(
            f"/v1/settlements/{empty['settlement_id']}/signoff", json=note, headers=api.reviewer
        )
        assert refused.status_code == 409 and "does not need" in refused.json()["detail"]
        assert (
            api.client.post("/v1/settlements/nope/signoff", json=note, headers=api.reviewer).status_code
            == 404
        )


def test_runs_cut_off_by_a_restart_are_marked_failed(tmp_path: Path, database_url: str | None) -> None:
    """Unfinished runs without a lease (made before leases) or whose lease expired are failed at
    start-up; a run another live process holds a lease on is left running."""
    home = tmp_path / "home"
    later, earlier = utcnow() + timedelta(hours=1), utcnow() - timedelta(seconds=1)
    leases = {
        "det_cut_running": ("running", "", None),
        "det_cut_queued": ("queued", "", None),
        "det_cut_expired": ("running", "elsewhere:7:0123456789ab", earlier),
        "det_live_elsewhere": ("running", "elsewhere:7:0123456789ab", later),
    }
    for api in make_api(home, database_url):
        with _repositories(api).database.session() as session:
            for run_id, (status, owner, lease_until) in leases.items():
                session.add(
                    DetectionRun(
                        id=run_id,
                        period_start=pd.Timestamp("2025-03-01", tz="UTC"),
                        period_end=pd.Timestamp("2025-04-01", tz="UTC"),
                        status=status,
                        step="read",
                        progress=0.1,
                        n_events=10,
                        last_batch_id=0,
                        model_version="m",
                        rules_version="r",
                        input_hash="",
                        summary="{}",
                        error="",
                        actor="test",
                        created_at=utcnow(),
                        owner=owner,
                        lease_until=lease_until,
                    )
                )
        assert (
            api.client.get("/v1/detections/det_cut_running", headers=api.reviewer).json()["status"]
            == "running"
        )
    for api in make_api(home, database_url):  # the restart
        for run_id in ("det_cut_running", "det_cut_queued", "det_cut_expired"):
            run = api.client.get(f"/v1/detections/{run_id}", headers=api.reviewer).json()
            assert run["status"] == "failed" and "interrupted" in run["error"]
        live = api.client.get("/v1/detections/det_live_elsewhere", headers=api.reviewer).json()
        assert live["status"] == "running" and live["error"] == ""


def test_background_settlements_cut_off_by_a_restart_are_failed_unless_their_process_lives(
    tmp_path: Path, database_url: str | None
) -> None:
    """Background settlements without a lease (made before leases), or whose lease expired, are
    failed at start-up and answer 503 "interrupted"; one another live process holds a lease on is
    left queued: its status answers 202, and a replay of its key neither fails nor takes it."""
    home = tmp_path / "home"
    later, earlier = utcnow() + timedelta(hours=1), utcnow() - timedelta(seconds=1)
    leases = {
        "stl_cut_running": ("running", "", None),
        "stl_cut_expired": ("queued", "elsewhere:7:0123456789ab", earlier),
        "stl_live_elsewhere": ("queued", "elsewhere:7:0123456789ab", later),
    }
    for api in make_api(home, database_url):
        with _repositories(api).database.session() as session:
            for request_id, (status, owner, lease_until) in leases.items():
                session.add(_request_row(request_id, status, owner=owner, lease_until=lease_until))
    for api in make_api(home, database_url):  # the restart
        for request_id in ("stl_cut_running", "stl_cut_expired"):
            answer = api.client.get(f"/v1/settlements/{request_id}", headers=api.billing)
            assert answer.status_code == 503 and "interrupted" in answer.json()["detail"], answer.text
        live = api.client.get("/v1/settlements/stl_live_elsewhere", headers=api.billing)
        assert live.status_code == 202 and live.json()["status"] == "queued", live.text
        body = {
            "campaign_id": "cmp-x",
            "period_start": "2025-03-01T00:00:00Z",
            "period_end": "2025-04-01T00:00:00Z",
        }
        replay = api.client.post(
            "/v1/settlements", json=body, headers={**api.billing, "Idempotency-Key": "key-stl_live_elsewhere"}
        )
        assert replay.status_code == 202 and replay.json()["status"] == "queued", replay.text
        row = _repositories(api).requests.request("stl_live_elsewhere")
        assert row is not None and row.owner == "elsewhere:7:0123456789ab" and row.error == ""


def _request_row(request_id: str, status: str, *, owner: str, lease_until: object) -> SettlementRequest:
    start, end = pd.Timestamp("2025-03-01", tz="UTC"), pd.Timestamp("2025-04-01", tz="UTC")
    return SettlementRequest(
        id=request_id,
        idempotency_key=f"key-{request_id}",
        request_hash=_request_hash("cmp-x", start, end),
        campaign_id="cmp-x",
        period_start=start,
        period_end=end,
        status=status,
        error="",
        error_status=0,
        actor="test",
        role=Role.BILLING,
        created_at=utcnow(),
        owner=owner,
        lease_until=lease_until,
    )


def _chunks(payload: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(payload), size):
        yield payload[i : i + size]


def test_chunked_bodies_are_counted_for_the_size_limit(tmp_path: Path, sim: SimulatedSet) -> None:
    for api in make_api(tmp_path / "home", None, max_body_bytes=20_000):
        import json

        headers = {**api.billing, "Content-Type": "application/json"}
        big = json.dumps({"events": event_rows(sim.events.head(200))}).encode()
        assert len(big) > 20_000
        request = api.client.build_request("POST", "/v1/events", content=_chunks(big, 4096), headers=headers)
        assert "content-length" not in request.headers and request.headers["transfer-encoding"] == "chunked"
        refused = api.client.send(request)
        assert refused.status_code == 413 and "20000 bytes" in refused.json()["detail"]
        small = json.dumps({"events": event_rows(sim.events.head(3))}).encode()
        accepted = api.client.post("/v1/events", content=_chunks(small, 100), headers=headers)
        assert accepted.status_code == 200 and accepted.json()["accepted"] == 3


def test_key_uses_are_written_behind_and_flushed_at_shutdown(
    tmp_path: Path, database_url: str | None
) -> None:
    home = tmp_path / "home"
    for api in make_api(home, database_url):
        audit = api.client.app.state.services.audit  # type: ignore[attr-defined]
        audit.flush_every_s = 60.0  # only a read or the shutdown writes them now
        for _ in range(5):
            api.client.get("/v1/detections/none", headers=api.billing)
        assert audit.pending >= 5
        url = api.config.resolved_database_url
    db = Repositories.over(make_engine(url))
    try:
        uses = [e for e in db.audit.entries(target=None, limit=1000) if e.action == "key.use"]
        assert len([e for e in uses if '"/v1/detections/none"' in e.detail]) == 5
    finally:
        db.database.engine.dispose()


def test_audit_rows_stay_queued_while_the_database_refuses(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'late.db'}")
    db = Repositories.over(engine)
    audit = AuditLog(audit_trail=db.audit, flush_every_s=60.0)
    try:
        for i in range(3):
            audit.record_later(actor=f"k{i}", role="billing", action="key.use", target=f"key:k{i}")
        with pytest.raises(Exception, match="audit_log"):
            audit.flush()  # no table yet
        assert audit.pending == 3
        migrate(engine)
        assert audit.flush() == 3 and audit.pending == 0
        assert [e.actor for e in db.audit.entries(target=None, limit=10)] == ["k0", "k1", "k2"]
    finally:
        audit.close()
        engine.dispose()


def test_audit_rows_refused_at_shutdown_are_spilled_and_recovered(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'spill.db'}")
    spill = tmp_path / "audit-spill"
    try:
        audit = AuditLog(audit_trail=Repositories.over(engine).audit, flush_every_s=60.0, spill_dir=spill)
        audit.record_later(actor="k1", role="admin", action="key.use", target="key:k1", detail={"path": "/x"})
        audit.close()  # no table: the row goes to the spill file, not away
        assert len(list(spill.glob("audit-*.jsonl"))) == 1
        migrate(engine)
        restarted = AuditLog(audit_trail=Repositories.over(engine).audit, spill_dir=spill)
        assert restarted.recover() == 1 and not list(spill.glob("audit-*.jsonl"))
        (row,) = restarted.entries(target="key:k1", limit=10)
        assert row.actor == "k1" and row.detail == {"path": "/x"}
    finally:
        engine.dispose()


def test_key_cache_honours_revocation_by_another_process(tmp_path: Path, sim: SimulatedSet) -> None:
    for api in make_api(tmp_path / "home", None):
        services = api.client.app.state.services  # type: ignore[attr-defined]
        services.keys.cache_seconds = 0.3
        assert api.client.get("/v1/detections/x", headers=api.billing).status_code == 404
        key_id = api.billing["Authorization"].split("_")[1]
        other = Repositories.over(
            make_engine(api.config.resolved_database_url)
        )  # as `cpeguard keys revoke` does
        try:
            KeyService(keys=other.keys, audit_trail=other.audit).revoke(key_id)
        finally:
            other.database.engine.dispose()
        time.sleep(0.4)
        assert api.client.get("/v1/detections/x", headers=api.billing).status_code == 401


def test_settlement_hash_is_the_hash_of_the_stored_events_and_bodies_survive_restart(
    tmp_path: Path, sim: SimulatedSet
) -> None:
    home = tmp_path / "home"
    for api in make_api(home, None):
        _load(api, sim)
        api.client.put(
            "/v1/campaigns/cmp003", json=campaign_terms(sim.campaigns, "cmp003"), headers=api.billing
        )
        run = api.client.post("/v1/detections", json=PERIOD, headers=api.billing).json()
        store = api.client.app.state.services.store  # type: ignore[attr-defined]
        events = store.read(
            start=pd.Timestamp(PERIOD["period_start"]),
            end=pd.Timestamp(PERIOD["period_end"]),
            campaign_id=CAMPAIGN,
        )
        # a narrower period of the run: its own slice and hash
        narrow = {**SETTLE, "period_end": "2025-03-20T00:00:00Z"}
        part = _settle(api, "key-2", narrow).json()
        is_early = events["ts"] < pd.Timestamp("2025-03-20", tz="UTC")
        assert part["detection_run_id"] == run["run_id"]
        # replays (the same event_id reported again) are stored as reported and count once
        assert part["n_events"] == events.loc[is_early, "event_id"].nunique() > 0
        assert part["input_hash"] == events_hash(events.loc[is_early])
        # the whole period of the same run: the events the narrow one left, and their hash
        first = _settle(api, "key-1")
        body = first.json()
        assert body["detection_run_id"] == run["run_id"]
        assert body["n_events"] == events.loc[~is_early, "event_id"].nunique() > 0
        assert body["input_hash"] == events_hash(events.loc[~is_early])
        assert body["n_events_already_settled"] == part["n_events"]
        assert body["already_settled_by"] == [part["settlement_id"]]
    for api in make_api(home, None):  # a new process reads the stored body, not a cache
        fetched = api.client.get(f"/v1/settlements/{body['settlement_id']}", headers=api.billing)
        assert fetched.content == first.content


def test_events_the_database_never_recorded_are_never_counted(api: Api, sim: SimulatedSet) -> None:
    _load(api, sim)
    services = api.client.app.state.services  # type: ignore[attr-defined]
    accepted = services.db.events.count_events(
        start=pd.Timestamp(PERIOD["period_start"]),
        end=pd.Timestamp(PERIOD["period_end"]),
        campaign_id=CAMPAIGN,
    )
    # a part file of a batch the database never recorded (written behind the service's back):
    # detection reads the batches the database accepted only
    stray = sim.events[sim.events["campaign_id"] == CAMPAIGN].head(2).assign(event_id=["stray1", "stray2"])
    services.store.append(stray.reset_index(drop=True), batch_id=10**7)
    run = api.client.post("/v1/detections", json=PERIOD, headers=api.billing).json()
    assert run["status"] == "done"
    body = _settle(api, "key-1").json()
    assert body["detection_run_id"] == run["run_id"] and body["n_events"] == accepted
    assert not any("detection_unavailable" in p["reasons"] for p in body["posts"])


def test_cached_principal_is_the_stored_key(tmp_path: Path) -> None:
    for api in make_api(tmp_path / "home", None):
        keys = api.client.app.state.services.keys  # type: ignore[attr-defined]
        secret = api.reviewer["Authorization"].removeprefix("Bearer ")
        assert keys.cached(secret) is None
        principal = keys.authenticate(secret, method="GET", path="/x")
        assert isinstance(principal, Principal) and principal.role is Role.REVIEWER
        assert keys.cached(secret) == principal
        assert keys.cached("cpg_unknown") is None and keys.lookup("cpg_unknown") is None
