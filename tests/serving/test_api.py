"""Route tests of the settlement API on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from detectors.anomaly import AccountAnomalyEnsemble, AnomalyParams
from detectors.fitted import FittedAnomaly, FittedState
from detectors.model import WindowScorer
from detectors.params import ScoringParams
from serving.app import create_app
from serving.io import event_rows
from tests.serving.conftest import POSTGRES_URL, Api, campaign_terms, make_api
from training.simulator import SimulatedSet

CAMPAIGN = "cmp002"
PERIOD = {"period_start": "2025-03-01T00:00:00Z", "period_end": "2025-04-10T00:00:00Z"}
SETTLE = {"campaign_id": CAMPAIGN, **PERIOD}


def _load(api: Api, sim: SimulatedSet, campaign: str = CAMPAIGN) -> dict[str, Any]:
    put = api.client.put(
        f"/v1/campaigns/{campaign}", json=campaign_terms(sim.campaigns, campaign), headers=api.billing
    )
    assert put.status_code == 200, put.text
    events = sim.events[sim.events["campaign_id"] == campaign]
    posted = api.client.post("/v1/events", json={"events": event_rows(events)}, headers=api.billing)
    assert posted.status_code == 200, posted.text
    return posted.json()


def _settle(api: Api, key: str, body: dict[str, str] | None = None) -> Any:
    return api.client.post(
        "/v1/settlements", json=body or SETTLE, headers={**api.billing, "Idempotency-Key": key}
    )


def test_settlement_replay_is_byte_for_byte(api: Api, sim: SimulatedSet) -> None:
    _load(api, sim)
    first = _settle(api, "key-1")
    assert first.status_code == 201, first.text
    replay = _settle(api, "key-1")
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == first.content
    fetched = api.client.get(f"/v1/settlements/{first.json()['settlement_id']}", headers=api.reviewer)
    assert fetched.content == first.content
    body = first.json()
    assert body["posts"] and body["detection_run_id"] and len(body["input_hash"]) == 64
    assert {p["decision"] for p in body["posts"]} <= {"pay", "discount", "hold"}
    assert body["totals"]["claimed"] == f"{sum(float(p['claimed_amount']) for p in body['posts']):.2f}"
    assert any(p["reasons"] for p in body["posts"] if p["decision"] != "pay")


def test_settlement_conflicts_name_the_existing_one(api: Api, sim: SimulatedSet) -> None:
    _load(api, sim)
    settlement_id = _settle(api, "key-1").json()["settlement_id"]
    other_body = _settle(api, "key-1", {**SETTLE, "period_end": "2025-04-11T00:00:00Z"})
    assert other_body.status_code == 409
    assert "different body" in other_body.json()["detail"]
    other_key = _settle(api, "key-2")
    assert other_key.status_code == 409
    assert settlement_id in other_key.json()["detail"]


def test_settlement_reruns_detection_when_events_arrive_after_it(api: Api, sim: SimulatedSet) -> None:
    _load(api, sim)
    run = api.client.post("/v1/detections", json=PERIOD, headers=api.billing)
    assert run.status_code == 201 and run.json()["status"] == "done"
    late = (
        sim.events[sim.events["campaign_id"] == CAMPAIGN].head(3).assign(event_id=["late1", "late2", "late3"])
    )
    api.client.post("/v1/events", json={"events": event_rows(late)}, headers=api.billing)
    body = _settle(api, "key-1").json()
    assert body["detection_run_id"] != run.json()["run_id"]
    assert body["n_events"] == run.json()["n_events"] + 3


def test_settlement_uses_a_current_covering_run(api: Api, sim: SimulatedSet) -> None:
    _load(api, sim)
    run = api.client.post("/v1/detections", json=PERIOD, headers=api.billing).json()
    assert _settle(api, "key-1").json()["detection_run_id"] == run["run_id"]


def test_adjustments_are_appended_and_bounded(api: Api, sim: SimulatedSet) -> None:
    _load(api, sim)
    first = _settle(api, "key-1")
    settlement = first.json()
    url = f"/v1/settlements/{settlement['settlement_id']}/adjustments"
    paid = next(p for p in settlement["posts"] if float(p["payable"]) > 0)
    clawback = {
        "post_id": paid["post_id"],
        "kind": "clawback",
        "amount": "0.50",
        "reason": "creator confessed",
    }

    def key(name: str) -> dict[str, str]:
        return {"Idempotency-Key": name}

    assert api.client.post(url, json=clawback, headers={**api.billing, **key("a1")}).status_code == 403
    made = api.client.post(url, json=clawback, headers={**api.reviewer, **key("a1")})
    assert made.status_code == 201, made.text
    assert made.json()["settlement_id"] == settlement["settlement_id"]
    too_much = {**clawback, "amount": str(float(paid["payable"]) + 1)}
    refused = api.client.post(url, json=too_much, headers={**api.admin, **key("a2")})
    assert refused.status_code == 422 and "exceeds" in refused.json()["detail"]
    release = {"post_id": paid["post_id"], "kind": "release", "amount": "0.01", "reason": "x"}
    if paid["held_amount"] == "0.00":
        assert api.client.post(url, json=release, headers={**api.reviewer, **key("a3")}).status_code == 422
    missing = api.client.post(
        url, json={**clawback, "post_id": "nope"}, headers={**api.reviewer, **key("a4")}
    )
    assert missing.status_code == 404
    no_key = api.client.post(url, json=clawback, headers=api.reviewer)
    assert no_key.status_code == 422 and "Idempotency-Key" in no_key.json()["detail"]
    listed = api.client.get(url, headers=api.billing).json()
    assert [a["adjustment_id"] for a in listed] == [made.json()["adjustment_id"]]
    unchanged = api.client.get(f"/v1/settlements/{settlement['settlement_id']}", headers=api.billing)
    assert unchanged.content == first.content
    audit = api.client.get("/v1/audit", params={"target": settlement["settlement_id"]}, headers=api.reviewer)
    actions = [row["action"] for row in audit.json()]
    assert actions == ["settlement.create", "adjustment.clawback"]
    assert all(row["actor"] and row["at"] for row in audit.json())


def test_audit_log_is_append_only_in_the_database(api: Api, sim: SimulatedSet) -> None:
    _load(api, sim)
    _settle(api, "key-1")
    engine = api.client.app.state.services.db.database.engine  # type: ignore[attr-defined]
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "DELETE FROM settlements"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    keys_used = api.client.get("/v1/audit", params={"limit": 1000}, headers=api.admin).json()
    assert any(row["action"] == "key.use" for row in keys_used)


def test_roles_and_keys(api: Api) -> None:
    assert (
        api.client.post("/v1/settlements", json=SETTLE, headers={"Idempotency-Key": "k"}).status_code == 401
    )
    bad = {"Authorization": "Bearer cpg_nope", "Idempotency-Key": "k"}
    assert api.client.post("/v1/settlements", json=SETTLE, headers=bad).status_code == 401
    reviewer = api.client.post(
        "/v1/settlements", json=SETTLE, headers={**api.reviewer, "Idempotency-Key": "k"}
    )
    assert reviewer.status_code == 403
    assert api.client.get("/v1/audit", headers=api.billing).status_code == 403
    services = api.client.app.state.services  # type: ignore[attr-defined]
    key_id = services.keys.list()[0].key_id
    services.keys.revoke(key_id)
    revoked = next(h for h in (api.billing, api.reviewer, api.admin) if key_id in h["Authorization"])
    assert api.client.get("/v1/settlements/x", headers=revoked).status_code == 401


def test_fail_safe_holds_everything_when_detection_fails(tmp_path: Path, sim: SimulatedSet) -> None:
    # a real scorer that cannot score: its fitted anomaly ensemble was never fitted
    unfitted = FittedAnomaly(
        model=AccountAnomalyEnsemble(),
        columns=("n_engagements",),
        fill=(0.0,),
        cut=0.5,
        params=AnomalyParams(top_share=0.05),
        n_fit_accounts=0,
    )
    broken = WindowScorer(params=ScoringParams(), fitted=FittedState(anomaly=unfitted))
    for api in make_api(tmp_path / "home", None, scorer=broken):
        _load(api, sim)
        response = _settle(api, "key-1")
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["posts"] and all(p["decision"] == "hold" for p in body["posts"])
        assert all(
            p["reasons"] == ["detection_unavailable"] and p["payable"] == "0.00" for p in body["posts"]
        )
        assert body["totals"]["payable"] == "0.00" and body["totals"]["held"] == body["totals"]["claimed"]
        assert body["needs_signoff"] and body["status"] == "needs_signoff"
        assert body["detection_run_id"] is None
        failed = api.client.post("/v1/detections", json=PERIOD, headers=api.billing).json()
        assert failed["status"] == "failed" and "NotFittedError" in failed["error"]


def test_blast_radius_cap_marks_needs_signoff(tmp_path: Path, sim: SimulatedSet) -> None:
    for api in make_api(tmp_path / "home", None, signoff_withheld_share=0.0):
        _load(api, sim)
        body = _settle(api, "key-1").json()
        assert float(body["totals"]["withheld"]) > 0
        assert body["needs_signoff"] and body["status"] == "needs_signoff"


def test_database_failure_is_a_clear_503(tmp_path: Path, postgres_url: str, sim: SimulatedSet) -> None:
    for api in make_api(tmp_path / "home", postgres_url):
        _load(api, sim)
        name = make_url(postgres_url).database
        admin = create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
        response = _settle(api, "key-1")
        assert response.status_code == 503
        assert response.json() == {"detail": "database unavailable; nothing was recorded", "errors": None}
        assert api.client.get("/readyz").status_code == 503


def test_ingest_reports_rejects_and_counts_duplicates_once(sqlite_api: Api, sim: SimulatedSet) -> None:
    rows = event_rows(sim.events.head(5))
    rows[1]["ts"] = "not a time"
    rows[3]["user_id"] = ""
    rows.append(dict(rows[0]))
    rows[0]["unknown_column"] = "kept quiet"
    answer = sqlite_api.client.post("/v1/events", json={"events": rows}, headers=sqlite_api.billing).json()
    assert answer["received"] == 6 and answer["accepted"] == 3 and answer["duplicates"] == 1
    assert [(r["row"], r["field"], r["reason"]) for r in answer["rejected"]] == [
        (2, "ts", "unparseable timestamp"),
        (4, "user_id", "empty user_id"),
    ]
    again = sqlite_api.client.post("/v1/events", json={"events": rows}, headers=sqlite_api.billing).json()
    assert again["accepted"] == 0 and again["duplicates"] == 4
    assert (
        sqlite_api.client.app.state.services.db.events.count_events(  # type: ignore[attr-defined]
            start=pd.Timestamp("2000-01-01", tz="UTC"), end=pd.Timestamp("2100-01-01", tz="UTC")
        )
        == 3
    )


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_ingest_file_upload(sqlite_api: Api, sim: SimulatedSet, kind: str) -> None:
    events = sim.events[sim.events["campaign_id"] == CAMPAIGN]
    buffer = io.BytesIO()
    if kind == "parquet":
        events.to_parquet(buffer, index=False)
    else:
        events.to_csv(buffer, index=False)
    files = {"file": (f"events.{kind}", buffer.getvalue(), "application/octet-stream")}
    answer = sqlite_api.client.post("/v1/events", files=files, headers=sqlite_api.billing)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == events["event_id"].nunique()
    bad = sqlite_api.client.post(
        "/v1/events", files={"file": ("e.xlsx", b"x", "application/octet-stream")}, headers=sqlite_api.billing
    )
    assert bad.status_code == 422 and "file type" in bad.json()["detail"]


def test_limits_and_strict_models(tmp_path: Path, sim: SimulatedSet) -> None:
    for api in make_api(tmp_path / "home", None, max_batch_events=3, max_body_bytes=20_000):
        rows = event_rows(sim.events.head(4))
        too_many = api.client.post("/v1/events", json={"events": rows}, headers=api.billing)
        assert too_many.status_code == 413
        huge = api.client.post(
            "/v1/events", json={"events": event_rows(sim.events.head(200))}, headers=api.billing
        )
        assert huge.status_code == 413
        extra = api.client.post("/v1/events", json={"events": [], "extra": 1}, headers=api.billing)
        assert extra.status_code == 422 and "extra" in extra.json()["detail"]
        unknown = _settle(api, "k", {**SETTLE, "pay_everything": "yes"})
        assert unknown.status_code == 422 and "pay_everything" in unknown.json()["detail"]
        reversed_period = _settle(api, "k", {**SETTLE, "period_end": "2025-01-01T00:00:00Z"})
        assert reversed_period.status_code == 422 and "period_end" in reversed_period.json()["detail"]
        no_key = api.client.post("/v1/settlements", json=SETTLE, headers=api.billing)
        assert no_key.status_code == 422 and "Idempotency-Key" in no_key.json()["detail"]
        no_campaign = _settle(api, "k")
        assert no_campaign.status_code == 404 and "campaign_id" in no_campaign.json()["detail"]
        garbage = api.client.post(
            "/v1/events", content=b"{not json", headers={**api.billing, "Content-Type": "application/json"}
        )
        assert garbage.status_code == 422 and "Traceback" not in garbage.text


def test_long_detection_runs_in_the_background(tmp_path: Path, sim: SimulatedSet) -> None:
    for api in make_api(tmp_path / "home", None, sync_detection_max_events=10):
        _load(api, sim)
        started = api.client.post("/v1/detections", json=PERIOD, headers=api.billing)
        assert started.status_code == 202
        run_id = started.json()["run_id"]
        deadline = time.monotonic() + 60
        status = started.json()
        while status["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.1)
            status = api.client.get(f"/v1/detections/{run_id}", headers=api.reviewer).json()
        assert status["status"] == "done" and status["progress"] == 1.0
        assert status["summary"]["n_events"] == status["n_events"] > 0
        assert api.client.get("/v1/detections/nope", headers=api.reviewer).status_code == 404


def test_accounts_show_reasons_with_evidence_and_settlements(sqlite_api: Api, sim: SimulatedSet) -> None:
    _load(sqlite_api, sim)
    settlement = _settle(sqlite_api, "key-1").json()
    run = sqlite_api.client.app.state.services.detection  # type: ignore[attr-defined]
    accounts = run.accounts(settlement["detection_run_id"])
    flagged = accounts.loc[accounts["flagged"] & (accounts["role"] == "engager"), "account_id"].iloc[0]
    answer = sqlite_api.client.get(f"/v1/accounts/{flagged}", headers=sqlite_api.reviewer).json()
    assert answer["flagged"] and answer["reasons"] and answer["reasons"][0]["evidence"]
    assert answer["recent_settlements"] == [settlement["settlement_id"]]
    creator = settlement["posts"][0]["creator_id"]
    mine = sqlite_api.client.get(f"/v1/accounts/{creator}", headers=sqlite_api.reviewer).json()
    assert settlement["settlement_id"] in mine["recent_settlements"]
    assert sqlite_api.client.get("/v1/accounts/nobody", headers=sqlite_api.reviewer).status_code == 404


def test_health_readiness_and_metrics(sqlite_api: Api, sim: SimulatedSet) -> None:
    assert sqlite_api.client.get("/healthz").json() == {"status": "ok"}
    ready = sqlite_api.client.get("/readyz")
    assert ready.status_code == 200 and set(ready.json().values()) == {"ok"}
    _load(sqlite_api, sim)
    _settle(sqlite_api, "key-1")
    metrics = sqlite_api.client.get("/metrics").text
    assert 'cpeguard_request_seconds_count{method="POST",route="/v1/settlements",status="201"} 1.0' in metrics
    assert "cpeguard_decisions_total" in metrics and "cpeguard_money_held_total" in metrics


def test_openapi_documents_every_endpoint_with_examples(tmp_path: Path) -> None:
    from serving.config import ServiceConfig

    schema = create_app(ServiceConfig(home=tmp_path)).openapi()
    paths = schema["paths"]
    for path in (
        "/v1/campaigns/{campaign_id}",
        "/v1/events",
        "/v1/detections",
        "/v1/detections/{run_id}",
        "/v1/settlements",
        "/v1/settlements/{settlement_id}",
        "/v1/settlements/{settlement_id}/adjustments",
        "/v1/accounts/{account_id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths
    assert "EventsBatch" in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["SettlementIn"]["examples"]
