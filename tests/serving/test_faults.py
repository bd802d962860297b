"""Fault injection against a real server (uvicorn as a process) on SQLite and PostgreSQL.

The server is killed (exit 137, as by kill -9: no clean-up runs) at each fault point of
``serving.faults`` in turn: during ingest (files staged, batch committed, half published),
during detection, during a settlement and during a reviewer's release. Each restart arms
the next point and first checks what the previous crash left: no event the service did
not accept is ever counted, nothing accepted is lost, nothing is recorded twice. Then, on
the last server: a garbage part file and a missing partition are a 503 with nothing
recorded, named by /readyz, and the period settles once the store is whole again.
A database outage during a detection run (PostgreSQL: connections cut and refused) and a
full disk under the event store (a 1 MB tmpfs; the app in this process, since nothing is
killed there) have their own tests. Database outages are PostgreSQL's: SQLite is a file in
the process, with no server to lose (and chmod does not stop root).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from serving.audit import AuditLog
from serving.auth import Role
from serving.config import ServiceConfig
from serving.db.engine import make_engine, migrate
from serving.db.repositories import Repositories
from serving.faults import KILLED_STATUS
from serving.io import event_rows
from serving.keys import KeyService
from serving.manifest import part_batch
from serving.settlement import DETECTION_UNAVAILABLE
from serving.store import STAGING, EventStore
from tests.live_server import cli_env, server_process
from tests.review.conftest import csrf_of
from tests.serving.conftest import POSTGRES_URL, Api, campaign_terms, make_api
from training.simulator import SimulatedSet

pytestmark = [pytest.mark.e2e]
CAMPAIGN = "cmp001"


@dataclass(frozen=True)
class Deployment:
    """A home and a database that outlive the server processes started over them."""

    home: Path
    database_url: str | None
    billing: dict[str, str]
    reviewer: dict[str, str]

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'cpeguard.db').resolve()}"

    def scalar(self, sql: str) -> Any:
        engine = create_engine(self.url)
        try:
            with engine.connect() as connection:
                return connection.execute(text(sql)).scalar()
        finally:
            engine.dispose()


@contextmanager
def serving(
    deployment: Deployment, fault: str | None = None, prefix: tuple[str, ...] = (), **more: str
) -> Iterator[tuple[httpx.Client, subprocess.Popen[bytes]]]:
    """A server over the deployment, with a fault point armed (and ``more`` settings; ``prefix``:
    ``server_process``)."""
    settings = {**more, **({"CPEGUARD_FAULT": fault} if fault else {})}
    if deployment.database_url:
        settings["CPEGUARD_DATABASE_URL"] = deployment.database_url
    env = cli_env(deployment.home, **settings)
    with (
        server_process(env, prefix=prefix) as (base, process),
        httpx.Client(base_url=base, timeout=120) as client,
    ):
        yield client, process


def deployment_keys(home: Path, database_url: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """A billing and a reviewer key, made through the key service on the deployment's database."""
    config = ServiceConfig(home=home, database_url=database_url)
    home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.resolved_database_url)
    try:
        migrate(engine)
        db = Repositories.over(engine)
        audit = AuditLog(audit_trail=db.audit, spill_dir=home / "audit-spill")
        keys = KeyService(keys=db.keys, audit_trail=db.audit, audit=audit)
        billing, reviewer = (
            keys.create(role=role, name=role.value)[1] for role in (Role.BILLING, Role.REVIEWER)
        )
        audit.close()
    finally:
        engine.dispose()
    return {"Authorization": f"Bearer {billing}"}, {"Authorization": f"Bearer {reviewer}"}


def _deployment(home: Path, database_url: str | None) -> Deployment:
    billing, reviewer = deployment_keys(home, database_url)
    return Deployment(home=home, database_url=database_url, billing=billing, reviewer=reviewer)


@pytest.fixture
def deployment(tmp_path: Path, database_url: str | None) -> Deployment:
    """A deployment on SQLite and on PostgreSQL."""
    return _deployment(tmp_path / "home", database_url)


@pytest.fixture
def postgres_deployment(tmp_path: Path, postgres_url: str) -> Deployment:
    """A deployment on PostgreSQL."""
    return _deployment(tmp_path / "home", postgres_url)


def crashes(process: subprocess.Popen[bytes], request: Any) -> None:
    """The request never gets an answer and the server dies with the status of kill -9."""
    with pytest.raises(httpx.TransportError):
        request()
    assert process.wait(timeout=60) == KILLED_STATUS


def _events(sim: SimulatedSet) -> pd.DataFrame:
    return sim.events[sim.events["campaign_id"] == CAMPAIGN].sort_values("ts").reset_index(drop=True)


def _period(sim: SimulatedSet) -> dict[str, str]:
    row = sim.campaigns.set_index("campaign_id").loc[CAMPAIGN]
    return {
        "campaign_id": CAMPAIGN,
        "period_start": pd.Timestamp(row["window_start"]).isoformat(),
        "period_end": (pd.Timestamp(row["window_end"]) + pd.Timedelta(days=2)).isoformat(),
    }


def _post_events(client: httpx.Client, deployment: Deployment, part: pd.DataFrame) -> httpx.Response:
    return client.post("/v1/events", json={"events": event_rows(part)}, headers=deployment.billing)


def _stored_ids(deployment: Deployment) -> set[str]:
    store = EventStore(deployment.home / "events")
    events = store.read(start=pd.Timestamp("2000-01-01", tz="UTC"), end=pd.Timestamp("2100-01-01", tz="UTC"))
    return set(events["event_id"].astype("str")) if not events.empty else set()


def _settle(client: httpx.Client, deployment: Deployment, body: dict[str, str], key: str) -> httpx.Response:
    return client.post("/v1/settlements", json=body, headers={**deployment.billing, "Idempotency-Key": key})


def test_kill_9_at_every_fault_point_counts_only_accepted_events(
    deployment: Deployment, sim: SimulatedSet
) -> None:
    events = _events(sim)
    # four interleaved batches; the platform's replays of an event stay in its batch
    which = pd.factorize(events["event_id"])[0] % 4
    parts = [events.loc[which == i].reset_index(drop=True) for i in range(4)]
    accepted = set(parts[0]["event_id"]) | set(parts[2]["event_id"]) | set(parts[3]["event_id"])
    period = _period(sim)

    _crash_at_each_ingest_step(deployment, sim, parts)

    with serving(deployment, "detection_scored") as (client, process):
        assert _post_events(client, deployment, parts[3]).json()["accepted"] == 0
        assert _post_events(client, deployment, parts[0]).json()["accepted"] == parts[0]["event_id"].nunique()
        assert _stored_ids(deployment) == accepted
        assert client.get("/readyz").status_code == 200
        crashes(
            process,
            lambda: client.post(
                "/v1/detections",
                json={k: period[k] for k in ("period_start", "period_end")},
                headers=deployment.billing,
            ),
        )
    assert deployment.scalar("SELECT count(*) FROM detection_runs WHERE status = 'running'") == 1

    with serving(deployment, "settlement_before_commit") as (client, process):
        assert deployment.scalar("SELECT count(*) FROM detection_runs WHERE status NOT IN ('failed')") == 0
        crashes(process, lambda: _settle(client, deployment, period, "stl-1"))
    assert deployment.scalar("SELECT count(*) FROM settlements") == 0
    assert deployment.scalar("SELECT count(*) FROM settlement_claims") == 0

    with serving(deployment, "adjustment_before_commit") as (client, process):
        settled = _settle(client, deployment, period, "stl-1")
        assert settled.status_code == 201, settled.text
        settlement = settled.json()
        # only what the service accepted is counted: the crashed batch 2 is nowhere
        assert settlement["n_events"] == len(accepted)
        assert all(DETECTION_UNAVAILABLE not in line["reasons"] for line in settlement["posts"])
        adjustment, url = _adjustment(settlement)
        headers = {**deployment.reviewer, "Idempotency-Key": "adj-1"}
        crashes(process, lambda: client.post(url, json=adjustment, headers=headers))
    assert deployment.scalar("SELECT count(*) FROM adjustments") == 0

    with serving(deployment) as (client, _process):
        first = client.post(url, json=adjustment, headers=headers)
        replay = client.post(url, json=adjustment, headers=headers)
        assert (first.status_code, replay.status_code) == (201, 200) and replay.content == first.content
        assert len(client.get(url, headers=deployment.reviewer).json()) == 1
        assert _settle(client, deployment, period, "stl-1").content == settled.content
        # the batch lost in the crash was never accepted: sent again, every event is new
        assert _post_events(client, deployment, parts[1]).json()["accepted"] == parts[1]["event_id"].nunique()
        _store_faults_are_503s_until_the_store_is_whole(client, deployment, period, parts[0])


def _crash_at_each_ingest_step(deployment: Deployment, sim: SimulatedSet, parts: list[pd.DataFrame]) -> None:
    """Batches 1, 2 and 3 die after staging, after committing and half-published, in turn."""
    with serving(deployment, "ingest_after_stage") as (client, process):
        put = client.put(
            f"/v1/campaigns/{CAMPAIGN}",
            json=campaign_terms(sim.campaigns, CAMPAIGN),
            headers=deployment.billing,
        )
        assert put.status_code == 200, put.text
        crashes(process, lambda: _post_events(client, deployment, parts[1]))
    assert (deployment.home / "events" / STAGING).exists()  # staged, never committed

    with serving(deployment, "ingest_after_commit") as (client, process):
        # the start-up reconciliation discarded the staged batch: the store holds nothing
        assert _stored_ids(deployment) == set()
        assert not any((deployment.home / "events" / STAGING).iterdir())
        crashes(process, lambda: _post_events(client, deployment, parts[2]))

    with serving(deployment, "ingest_mid_publish") as (client, process):
        # committed before the crash: published at start-up, and a retry finds every event known
        again = _post_events(client, deployment, parts[2]).json()
        assert (again["accepted"], again["duplicates"]) == (0, len(parts[2]))
        crashes(process, lambda: _post_events(client, deployment, parts[3]))


def _adjustment(settlement: dict[str, Any]) -> tuple[dict[str, str], str]:
    """A release of half a held post's money, or a clawback of half a paid one's."""
    held = [line for line in settlement["posts"] if Decimal(line["held_amount"]) > 0]
    line = (held or settlement["posts"])[0]
    kind = "release" if held else "clawback"
    amount = (Decimal(line["held_amount"] if held else line["payable"]) / 2).quantize(Decimal("0.01"))
    body = {"post_id": line["post_id"], "kind": kind, "amount": str(amount), "reason": "fault test"}
    return body, f"/v1/settlements/{settlement['settlement_id']}/adjustments"


def _store_faults_are_503s_until_the_store_is_whole(
    client: httpx.Client, deployment: Deployment, period: dict[str, str], events: pd.DataFrame
) -> None:
    """A garbage part file, then a missing partition: 503, nothing recorded, /readyz names it; once
    the store is whole again the later period settles, with verdicts (no hold over a partial window)."""
    later = {**period, "period_start": period["period_end"], "period_end": "2099-01-01T00:00:00+00:00"}
    late = events.assign(
        event_id="late-" + events["event_id"].astype("str"),
        ts=events["ts"] + (pd.Timestamp(period["period_end"]) - events["ts"].min() + pd.Timedelta(days=1)),
    )
    assert _post_events(client, deployment, late).json()["accepted"] == late["event_id"].nunique()
    files = (deployment.home / "events").glob("campaign=*/day=*/part-*.parquet")
    part = max(files, key=lambda path: part_batch(path.name) or 0)  # a file of the late batch
    original = part.read_bytes()
    n_settlements = deployment.scalar("SELECT count(*) FROM settlements")
    for break_store, mend_store in (
        (lambda: part.write_bytes(b"PAR1" + b"\0" * 64), lambda: part.write_bytes(original)),
        (
            lambda: part.parent.rename(part.parent.with_name("gone")),
            lambda: part.parent.with_name("gone").rename(part.parent),
        ),
    ):
        break_store()
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["event_store"] == "unavailable", ready.text
        assert any(part.parent.name in problem for problem in ready.json()["problems"])
        refused = _settle(client, deployment, later, f"late-{n_settlements}")
        assert refused.status_code == 503 and "event store fault" in refused.json()["detail"], refused.text
        assert deployment.scalar("SELECT count(*) FROM settlements") == n_settlements
        mend_store()
        assert client.get("/readyz").status_code == 200
    settled = _settle(client, deployment, later, "late-ok")
    assert settled.status_code == 201, settled.text
    assert settled.json()["n_events"] == late["event_id"].nunique()
    assert all(DETECTION_UNAVAILABLE not in line["reasons"] for line in settled.json()["posts"])


@contextmanager
def database_outage(database_url: str) -> Iterator[None]:
    """PostgreSQL refuses the database's connections and cuts the open ones, until the block ends."""
    name = make_url(database_url).database
    admin = create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": name},
            )
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def test_a_run_cut_off_by_a_database_outage_is_failed_when_the_database_returns(
    postgres_deployment: Deployment, sim: SimulatedSet
) -> None:
    deployment = postgres_deployment
    period = _period(sim)
    window = {k: period[k] for k in ("period_start", "period_end")}
    # the run stalls 2 s between writing its verdicts and recording that it is done
    with serving(deployment, "detection_scored:2") as (client, _process):
        terms = campaign_terms(sim.campaigns, CAMPAIGN)
        assert (
            client.put(f"/v1/campaigns/{CAMPAIGN}", json=terms, headers=deployment.billing).status_code == 200
        )
        assert _post_events(client, deployment, _events(sim)).status_code == 200
        answers: list[httpx.Response] = []
        running = threading.Thread(
            target=lambda: answers.append(
                client.post("/v1/detections", json=window, headers=deployment.billing)
            )
        )
        running.start()
        deadline = time.monotonic() + 60
        while not list((deployment.home / "runs").glob("*/accounts.parquet")) and time.monotonic() < deadline:
            time.sleep(0.05)
        [run_dir] = (deployment.home / "runs").iterdir()
        time.sleep(0.3)  # into the stall
        with database_outage(deployment.url):
            running.join(timeout=60)
            assert answers[0].status_code == 503, answers[0].text
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "database: not answering" in ready.json()["problems"]
        # back: the run could not record its end, and nobody is running it any more
        stale = f"SELECT status FROM detection_runs WHERE id = '{run_dir.name}'"
        assert deployment.scalar(stale) == "running"
        later = client.post("/v1/detections", json=window, headers=deployment.billing)
        assert later.status_code == 201 and later.json()["status"] == "done", later.text
        assert deployment.scalar(stale) == "failed"
        failed = client.get(f"/v1/detections/{run_dir.name}", headers=deployment.billing).json()
        assert "database outage" in failed["error"]


def test_a_full_disk_under_the_store_records_nothing_and_ingest_works_once_there_is_room(
    tmp_path: Path, database_url: str | None, sim: SimulatedSet
) -> None:
    """The event store on a 1 MB tmpfs, filled: ingest answers 503 and the database holds no batch.

    The app runs in this process (no process is killed here, and it starts in a second).
    """
    store_dir = tmp_path / "home" / "events"
    store_dir.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(store_dir)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        for api in make_api(tmp_path / "home", database_url):
            _fill_then_free(api, store_dir, sim)
    finally:
        subprocess.run(["umount", "-l", str(store_dir)], check=False)


def _fill_then_free(api: Api, store_dir: Path, sim: SimulatedSet) -> None:
    events = _events(sim)
    terms = campaign_terms(sim.campaigns, CAMPAIGN)
    assert api.client.put(f"/v1/campaigns/{CAMPAIGN}", json=terms, headers=api.billing).status_code == 200
    filler = store_dir / "filler"
    with filler.open("wb") as handle, pytest.raises(OSError):
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()
    rows = {"events": event_rows(events)}
    full = api.client.post("/v1/events", json=rows, headers=api.billing)
    assert full.status_code == 503 and "cannot be written" in full.json()["detail"], full.text
    batches = api.client.app.state.services.db.events.last_batch_id()  # type: ignore[attr-defined]
    assert batches == 0
    filler.unlink()
    room = api.client.post("/v1/events", json=rows, headers=api.billing)
    assert room.status_code == 200 and room.json()["accepted"] == events["event_id"].nunique()
    store = EventStore(store_dir)
    stored = store.read(start=pd.Timestamp("2000-01-01", tz="UTC"), end=pd.Timestamp("2100-01-01", tz="UTC"))
    assert set(stored["event_id"]) == set(events["event_id"])
    assert not any((store_dir / STAGING).iterdir())


def test_a_background_settlement_cut_off_by_a_database_outage_can_be_posted_again(
    postgres_deployment: Deployment, sim: SimulatedSet
) -> None:
    """Every settlement is made in the background (inline limit 0); the database goes away while
    one is made, so it cannot record its end: when the database is back, its status says it was
    interrupted (not 202 forever), and posting it again with the same key makes it, once."""
    deployment = postgres_deployment
    period = _period(sim)
    with serving(deployment, "settlement_before_commit:2", CPEGUARD_SYNC_DETECTION_MAX_EVENTS="0") as (
        client,
        _process,
    ):
        terms = campaign_terms(sim.campaigns, CAMPAIGN)
        assert (
            client.put(f"/v1/campaigns/{CAMPAIGN}", json=terms, headers=deployment.billing).status_code == 200
        )
        assert _post_events(client, deployment, _events(sim)).status_code == 200
        queued = _settle(client, deployment, period, "bg-1")
        assert queued.status_code == 202, queued.text
        status_url = queued.json()["status_url"]
        deadline = time.monotonic() + 60
        while not list((deployment.home / "runs").glob("*/accounts.parquet")) and time.monotonic() < deadline:
            time.sleep(0.05)
        with database_outage(deployment.url):
            time.sleep(
                3
            )  # the stall ends in the outage: the settlement can record neither itself nor its end
        assert deployment.scalar("SELECT status FROM settlement_requests") == "running"
        interrupted = client.get(status_url, headers=deployment.billing)
        assert interrupted.status_code == 503 and "interrupted" in interrupted.json()["detail"], (
            interrupted.text
        )
        assert deployment.scalar("SELECT count(*) FROM settlements") == 0
        again = _settle(client, deployment, period, "bg-1")
        assert again.status_code == 202, again.text
        deadline = time.monotonic() + 60
        while (done := client.get(status_url, headers=deployment.billing)).status_code == 202:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert done.status_code == 200 and done.json()["n_events"] == _events(sim)["event_id"].nunique(), (
            done.text
        )
        assert deployment.scalar("SELECT count(*) FROM settlements") == 1


def test_kill_9_mid_console_decision_moves_the_money_once(deployment: Deployment, sim: SimulatedSet) -> None:
    """A reviewer clears a creator case in the console; the server dies after the release, before the
    decision is written. Restarted, the case is stuck ``deciding``; once it has been stuck long enough
    (its start moved back past STUCK_AFTER here, instead of waiting) the next attempt finishes it from
    its release: decided once, its labels once, and not a cent released twice."""
    from tests.review.conftest import sign_in

    period = _period(sim)
    with serving(deployment, "review_before_decision") as (client, process):
        terms = campaign_terms(sim.campaigns, CAMPAIGN)
        assert (
            client.put(f"/v1/campaigns/{CAMPAIGN}", json=terms, headers=deployment.billing).status_code == 200
        )
        assert _post_events(client, deployment, _events(sim)).status_code == 200
        assert _settle(client, deployment, period, "stl-console").status_code == 201
        sign_in(client, deployment.reviewer["Authorization"].removeprefix("Bearer "))  # type: ignore[arg-type]
        case_id = deployment.scalar(
            "SELECT id FROM review_cases WHERE kind = 'creator' AND status = 'open' ORDER BY held_amount DESC"
        )
        assert case_id, "the settlement withheld money from some creator"
        opened = client.get(f"/review/cases/{case_id}").text
        claimed = client.post(
            f"/review/cases/{case_id}/claim", data={"csrf_token": csrf_of(opened)}, follow_redirects=True
        )
        assert claimed.status_code == 200, claimed.text
        body = {"action": "clear", "note": "the brand checked", "csrf_token": csrf_of(claimed.text)}
        crashes(process, lambda: client.post(f"/review/cases/{case_id}/decide", data=body))
    released = deployment.scalar("SELECT count(*) FROM adjustments")
    assert released >= 1  # the release committed before the crash
    assert deployment.scalar(f"SELECT status FROM review_cases WHERE id = '{case_id}'") == "deciding"
    mine = f"FROM review_decisions WHERE case_id = '{case_id}'"
    assert deployment.scalar(f"SELECT count(*) {mine}") == 0
    _move_back(deployment, case_id)

    with serving(deployment) as (client, _process):
        sign_in(client, deployment.reviewer["Authorization"].removeprefix("Bearer "))  # type: ignore[arg-type]
        page = client.get(f"/review/cases/{case_id}")
        assert page.status_code == 200
        again = client.post(
            f"/review/cases/{case_id}/decide",
            data={"action": "clear", "note": "again", "csrf_token": csrf_of(page.text)},
        )
        assert again.status_code in (200, 303, 409), again.text
    assert deployment.scalar(f"SELECT status FROM review_cases WHERE id = '{case_id}'") == "decided"
    assert deployment.scalar(f"SELECT count(*) {mine}") == 1
    assert deployment.scalar("SELECT count(*) FROM adjustments") == released
    assert deployment.scalar(f"SELECT note {mine}") == "the brand checked"


def _move_back(deployment: Deployment, case_id: str) -> None:
    """The stuck case's ``deciding`` start, moved back past STUCK_AFTER (as waiting would)."""
    from serving.review.cases import STUCK_AFTER

    engine = create_engine(deployment.url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE review_cases SET decided_at = :at WHERE id = :id"),
                {"at": datetime.now(UTC) - STUCK_AFTER - timedelta(minutes=1), "id": case_id},
            )
    finally:
        engine.dispose()


def test_a_run_beside_another_process_publishing_judges_its_batch_whole(
    deployment: Deployment, sim: SimulatedSet
) -> None:
    """Two servers over one deployment: while B stalls between committing a batch and publishing its
    files, A starts a detection run and settles the period. The run judges the batch whole or not at
    all (A waits for B's publish, so: whole), and the settlement claims exactly what the run judged."""
    events = _events(sim)
    which = pd.factorize(events["event_id"])[0] % 2
    first, second = (events.loc[which == i].reset_index(drop=True) for i in range(2))
    n_first, n_second = first["event_id"].nunique(), second["event_id"].nunique()
    period = _period(sim)
    window = {k: period[k] for k in ("period_start", "period_end")}
    terms = campaign_terms(sim.campaigns, CAMPAIGN)
    with serving(deployment) as (a, _), serving(deployment, "ingest_after_commit:3") as (b, _):
        assert a.put(f"/v1/campaigns/{CAMPAIGN}", json=terms, headers=deployment.billing).status_code == 200
        assert _post_events(a, deployment, first).json()["accepted"] == n_first
        answers: list[httpx.Response] = []
        ingesting = threading.Thread(target=lambda: answers.append(_post_events(b, deployment, second)))
        ingesting.start()
        deadline = time.monotonic() + 60
        while deployment.scalar("SELECT count(*) FROM ingest_batches") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        # committed, its files still staged: B stalls before publishing them
        assert any((deployment.home / "events" / STAGING).iterdir())
        run = a.post("/v1/detections", json=window, headers=deployment.billing).json()
        while run["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            run = a.get(f"/v1/detections/{run['run_id']}", headers=deployment.billing).json()
        settled = _settle(a, deployment, period, "stl-beside")
        ingesting.join(timeout=60)
    assert answers[0].status_code == 200 and answers[0].json()["accepted"] == n_second, answers[0].text
    assert run["status"] == "done", run
    assert settled.status_code == 201, settled.text
    body = settled.json()
    assert body["detection_run_id"] == run["run_id"]
    assert body["n_events"] == n_first + n_second
    assert all(DETECTION_UNAVAILABLE not in line["reasons"] for line in body["posts"])
    last = f"SELECT last_batch_id FROM detection_runs WHERE id = '{run['run_id']}'"
    assert deployment.scalar(last) == deployment.scalar("SELECT max(id) FROM ingest_batches")


# short leases, so that a lease not renewed expires within the tests' stalls
_LEASES = {"CPEGUARD_RUN_HEARTBEAT_S": "0.5", "CPEGUARD_RUN_LEASE_S": "4"}
OTHER = "cmp002"  # a campaign with events inside CAMPAIGN's period


def _run_row(deployment: Deployment, run_id: str, column: str = "status") -> Any:
    return deployment.scalar(f"SELECT {column} FROM detection_runs WHERE id = '{run_id}'")


def _await_stall(deployment: Deployment) -> str:
    """The id of the one detection run, once it has written its verdicts (into its stall)."""
    deadline = time.monotonic() + 120
    while not list((deployment.home / "runs").glob("*/accounts.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    [run_dir] = (deployment.home / "runs").iterdir()
    return run_dir.name


def _utc(value: Any) -> pd.Timestamp:
    """A stored time as aware UTC (SQLite gives naive text)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def _first_day(period: dict[str, str]) -> dict[str, str]:
    """A window inside the period that does not cover it (a run of its own over other events)."""
    start = pd.Timestamp(period["period_start"])
    return {"period_start": start.isoformat(), "period_end": (start + pd.Timedelta(days=1)).isoformat()}


def _setup_two_campaigns(client: httpx.Client, deployment: Deployment, sim: SimulatedSet) -> None:
    for campaign in (CAMPAIGN, OTHER):
        terms = campaign_terms(sim.campaigns, campaign)
        answer = client.put(f"/v1/campaigns/{campaign}", json=terms, headers=deployment.billing)
        assert answer.status_code == 200, answer.text
    events = sim.events[sim.events["campaign_id"].isin([CAMPAIGN, OTHER])].sort_values("ts")
    assert _post_events(client, deployment, events.reset_index(drop=True)).status_code == 200


def test_a_second_server_started_during_a_run_leaves_it_running_and_reuses_it(
    deployment: Deployment, sim: SimulatedSet
) -> None:
    """Server A settles a period: its detection run stalls 25 s (leases of 4 s, renewed every 0.5 s)
    before it is marked done. Server B starts meanwhile and creates a run of its own: A's run is
    still running, finishes done and A's settlement pays on it. B, asked to settle another campaign
    of the period meanwhile, waits for A's run and settles on it instead of computing its own."""
    period = _period(sim)
    with serving(deployment, "detection_scored:25", **_LEASES) as (a, _):
        _setup_two_campaigns(a, deployment, sim)
        settled: dict[str, httpx.Response] = {}
        by_a = threading.Thread(target=lambda: settled.update(a=_settle(a, deployment, period, "stl-a")))
        by_a.start()
        run_id = _await_stall(deployment)
        with serving(deployment, **_LEASES) as (b, _):
            assert _run_row(deployment, run_id) == "running"  # B's start left it alone
            other = {**period, "campaign_id": OTHER}
            by_b = threading.Thread(target=lambda: settled.update(b=_settle(b, deployment, other, "stl-b")))
            by_b.start()
            own = b.post("/v1/detections", json=_first_day(period), headers=deployment.billing)
            assert own.status_code == 201 and own.json()["status"] == "done", own.text
            assert (_run_row(deployment, run_id), _run_row(deployment, run_id, "error")) == ("running", "")
            by_a.join(timeout=120)
            by_b.join(timeout=120)
    assert (_run_row(deployment, run_id), _run_row(deployment, run_id, "error")) == ("done", "")
    for key in ("a", "b"):
        assert settled[key].status_code == 201, settled[key].text
        body = settled[key].json()
        assert body["detection_run_id"] == run_id and body["n_events"] > 0
        assert all(DETECTION_UNAVAILABLE not in line["reasons"] for line in body["posts"])
    assert Decimal(settled["a"].json()["totals"]["payable"]) > 0
    # A's run and B's own: B computed nothing for its settlement
    assert deployment.scalar("SELECT count(*) FROM detection_runs") == 2


# a server in its own pid namespace is, to the others, on another node: they cannot see whether its
# process still lives, only its leases (SIGKILL to unshare kills the server too)
_OTHER_NODE = ("unshare", "--pid", "--fork", "--kill-child")


def _can_unshare() -> bool:
    try:
        return subprocess.run([*_OTHER_NODE, "true"], capture_output=True, timeout=30).returncode == 0
    except OSError:
        return False


def test_a_killed_servers_run_is_failed_only_once_its_lease_expired(
    deployment: Deployment, sim: SimulatedSet
) -> None:
    """Servers A (as on another node) and B over one deployment; A's detection run stalls and A is
    killed (SIGKILL). B creates a run at once: A's run is left running (its lease holds 4 s). B's
    settlement of the period waits for A's run until the lease expires, then marks it failed and
    runs its own."""
    if not _can_unshare():
        pytest.skip("unshare --pid needs root (CAP_SYS_ADMIN): no second node to run server A on")
    period = _period(sim)
    window = {k: period[k] for k in ("period_start", "period_end")}
    with (
        serving(deployment, "detection_scored:120", _OTHER_NODE, **_LEASES) as (a, killed),
        serving(deployment, **_LEASES) as (b, _),
    ):
        _setup_two_campaigns(b, deployment, sim)

        def unanswered() -> None:  # A is killed in the run's stall
            with pytest.raises(httpx.TransportError):
                a.post("/v1/detections", json=window, headers=deployment.billing)

        started = threading.Thread(target=unanswered)
        started.start()
        run_id = _await_stall(deployment)
        killed.kill()
        assert killed.wait(timeout=30) == -9
        started.join(timeout=30)
        own = b.post("/v1/detections", json=_first_day(period), headers=deployment.billing)
        assert own.status_code == 201 and own.json()["status"] == "done", own.text
        assert _run_row(deployment, run_id) == "running"  # its lease has not expired yet
        lease_until = _utc(_run_row(deployment, run_id, "lease_until"))
        settled = _settle(b, deployment, period, "stl-after-kill")
        answered = pd.Timestamp.now(tz="UTC")
    assert answered > lease_until  # the settlement waited for the lease
    assert settled.status_code == 201, settled.text
    body = settled.json()
    assert body["detection_run_id"] not in (run_id, own.json()["run_id"])
    assert all(DETECTION_UNAVAILABLE not in line["reasons"] for line in body["posts"])
    assert _run_row(deployment, run_id) == "failed"
    assert "interrupted" in _run_row(deployment, run_id, "error")


def _request_row(deployment: Deployment, column: str = "status") -> Any:
    return deployment.scalar(f"SELECT {column} FROM settlement_requests")


def _await_answer(client: httpx.Client, deployment: Deployment, url: str) -> httpx.Response:
    """The settlement at ``url`` once it is no longer being made (202)."""
    deadline = time.monotonic() + 180
    while (answer := client.get(url, headers=deployment.billing)).status_code == 202:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)
    return answer


def test_a_second_server_started_during_a_background_settlement_leaves_it_and_it_completes(
    deployment: Deployment, sim: SimulatedSet
) -> None:
    """Server A makes a settlement in the background (inline limit 0); its detection run stalls 45 s.
    Server B starts meanwhile: the settlement is left running (not failed as interrupted), B answers
    its status 202 even after a whole lease (4 s) has passed (A renews the settlement's lease), and
    it completes, paid on A's run."""
    period = _period(sim)
    background = {"CPEGUARD_SYNC_DETECTION_MAX_EVENTS": "0", **_LEASES}
    with serving(deployment, "detection_scored:45", **background) as (a, _):
        _setup_two_campaigns(a, deployment, sim)
        queued = _settle(a, deployment, period, "bg-a")
        assert queued.status_code == 202, queued.text
        status_url = queued.json()["status_url"]
        run_id = _await_stall(deployment)
        with serving(deployment, **_LEASES) as (b, _):
            assert (_request_row(deployment), _request_row(deployment, "error")) == ("running", "")
            time.sleep(5)  # longer than a lease: only renewals keep it alive
            pending = b.get(status_url, headers=deployment.billing)
            assert pending.status_code == 202 and pending.json()["status"] == "running", pending.text
            done = _await_answer(b, deployment, status_url)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["detection_run_id"] == run_id and body["n_events"] == _events(sim)["event_id"].nunique()
    assert all(DETECTION_UNAVAILABLE not in line["reasons"] for line in body["posts"])
    assert (_request_row(deployment), _request_row(deployment, "error")) == ("done", "")


# leases long enough for a server to start within one
_LONG_LEASES = {"CPEGUARD_RUN_HEARTBEAT_S": "0.5", "CPEGUARD_RUN_LEASE_S": "30"}


def test_a_killed_servers_background_settlement_is_failed_only_once_its_lease_expired(
    deployment: Deployment, sim: SimulatedSet
) -> None:
    """Server A (as on another node) makes a settlement in the background; its run stalls and A is
    killed (SIGKILL). Server B, started after the kill, leaves the settlement running while its
    lease (30 s) holds and answers its status 202; once the lease expired, B answers 503
    "interrupted", and posting it again with the same key makes it on B, once."""
    if not _can_unshare():
        pytest.skip("unshare --pid needs root (CAP_SYS_ADMIN): no second node to run server A on")
    period = _period(sim)
    background = {"CPEGUARD_SYNC_DETECTION_MAX_EVENTS": "0", **_LONG_LEASES}
    with serving(deployment, "detection_scored:120", _OTHER_NODE, **background) as (a, killed):
        _setup_two_campaigns(a, deployment, sim)
        queued = _settle(a, deployment, period, "bg-killed")
        assert queued.status_code == 202, queued.text
        status_url = queued.json()["status_url"]
        run_id = _await_stall(deployment)
        killed.kill()
        assert killed.wait(timeout=30) == -9
    with serving(deployment, **_LONG_LEASES) as (b, _):
        pending = b.get(status_url, headers=deployment.billing)
        assert pending.status_code == 202, pending.text
        assert (_request_row(deployment), _request_row(deployment, "error")) == ("running", "")
        lease_until = _utc(_request_row(deployment, "lease_until"))
        assert pd.Timestamp.now(tz="UTC") < lease_until, "B took longer than a lease to start"
        interrupted = _await_answer(b, deployment, status_url)
        assert pd.Timestamp.now(tz="UTC") > lease_until
        assert interrupted.status_code == 503 and "interrupted" in interrupted.json()["detail"]
        again = _settle(b, deployment, period, "bg-killed")
        assert again.status_code == 202, again.text
        done = _await_answer(b, deployment, status_url)
    assert done.status_code == 200, done.text
    assert done.json()["detection_run_id"] != run_id
    assert all(DETECTION_UNAVAILABLE not in line["reasons"] for line in done.json()["posts"])
    assert deployment.scalar("SELECT count(*) FROM settlements") == 1


def test_a_settlement_waits_for_another_servers_run_at_most_run_wait_s(
    deployment: Deployment, sim: SimulatedSet
) -> None:
    """Server A settles a period: its detection run stalls 45 s while A lives (its lease renewed).
    Server B (``CPEGUARD_RUN_WAIT_S`` 3) settles another campaign of the period: it joins A's run,
    stops waiting after 3 s and settles on a run of its own, while A's run is still running; A's
    settlement then completes on A's run."""
    period = _period(sim)
    with (
        serving(deployment, "detection_scored:45", **_LEASES) as (a, _),
        serving(deployment, CPEGUARD_RUN_WAIT_S="3", **_LEASES) as (b, _),
    ):
        _setup_two_campaigns(a, deployment, sim)
        settled: dict[str, httpx.Response] = {}
        by_a = threading.Thread(target=lambda: settled.update(a=_settle(a, deployment, period, "stl-a")))
        by_a.start()
        run_id = _await_stall(deployment)
        asked = time.monotonic()
        by_b = _settle(b, deployment, {**period, "campaign_id": OTHER}, "stl-b")
        waited_s = time.monotonic() - asked
        assert _run_row(deployment, run_id) == "running"  # B answered before A's run ended
        by_a.join(timeout=120)
    assert by_b.status_code == 201, by_b.text
    assert by_b.json()["detection_run_id"] != run_id and waited_s >= 3
    assert all(DETECTION_UNAVAILABLE not in line["reasons"] for line in by_b.json()["posts"])
    assert settled["a"].status_code == 201 and settled["a"].json()["detection_run_id"] == run_id
    assert _run_row(deployment, run_id) == "done"
