"""Ingest and settlement under injected faults: a real ``cpeguard serve`` on SQLite and PostgreSQL.

Run: ``.venv/bin/python -m benchmarks.fault_load [--databases sqlite,postgresql] [--seconds 40]
[--out FILE]``.

Per database: a fresh home (and PostgreSQL database), a simulated set (seed 3, scale 0.05:
4 campaigns) registered and ingested, then for ``--seconds``:

- one ingest client posts JSON batches of 200 new events (copies of the set's events under
  new ids, so they fall in the campaigns' windows) back to back;
- one settlement client settles the campaigns in turn, each request a distinct period
  (the window, its end moved on one second per request): overlapping periods settle only
  what no settlement covered (201) or answer 409 when nothing is left;
- a fault injector, every ``--fault-every`` seconds, in turn: overwrites a part file with
  garbage (restored 2 s later), moves a partition away (back 2 s later), takes the database
  away for 2 s (PostgreSQL: connections refused and cut; skipped on SQLite, an embedded
  file), and once, a third of the way in, kills the server with SIGKILL and starts it again.

Every answer's latency and status is recorded (``connection`` when no answer came: the
server was down); after a 503 or no answer a client waits 0.2 s before its next request.
Afterwards, with the store whole and the server ready: the ledger (keyed by event, so no
engagement is in two settlements) holds only accepted events and exactly as many as the
settlements say they cover, and the store holds exactly the events the database accepted.
Results go to ``--out`` (default ``benchmarks/results/fault_load.json``); a Markdown table is printed. The
machine is shared (2 cores): client, server and faults all run on it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.api_campaigns import campaign_terms
from benchmarks.latency import percentiles_ms
from benchmarks.live_server import CLI, POSTGRES_URL, create_keys, free_port, postgres_database, service_env
from serving.db.database import Database
from serving.db.engine import make_engine
from serving.db.settlements import SettlementRepository
from serving.io import event_rows
from serving.store import EventStore, partition_name
from training.simulator import SimConfig, simulate

RESULTS = Path(__file__).resolve().parent / "results" / "fault_load.json"
BATCH = 200
HOLD_S = 2.0


@dataclass
class Server:
    """A ``cpeguard serve`` process over a home and database; restartable."""

    home: Path
    database_url: str | None
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    base: str = ""

    def start(self) -> float:
        """Start and wait for /readyz; returns the seconds it took."""
        started = time.monotonic()
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        log = (self.home / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        while time.monotonic() - started < 180:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=5).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready; see {self.home / 'serve.log'}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@dataclass
class Record:
    """Latencies and statuses of one kind of request."""

    seconds: list[float] = field(default_factory=list)
    ok_seconds: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    def add(self, status: str, seconds: float) -> None:
        self.statuses[status] += 1
        self.seconds.append(seconds)
        if status.startswith("2") or status == "409":
            self.ok_seconds.append(seconds)

    def summary(self) -> dict[str, Any]:
        return {
            "statuses": dict(sorted(self.statuses.items())),
            "all": percentiles_ms(self.seconds) if self.seconds else {},
            "answered_2xx_409": percentiles_ms(self.ok_seconds) if self.ok_seconds else {},
        }


def _timed(record: Record, post: Callable[..., httpx.Response], url: str, **request: Any) -> None:
    started = time.perf_counter()
    try:
        answer = post(url, **request)
    except httpx.TransportError:
        record.add("connection", time.perf_counter() - started)
        time.sleep(0.2)  # the server is down: do not spin
        return
    record.add(str(answer.status_code), time.perf_counter() - started)
    if answer.status_code == 503:
        time.sleep(0.2)  # a dependency is down: retry a little later, as a billing client would


def _ingest_loop(
    server: Server, headers: dict[str, str], events: pd.DataFrame, stop: threading.Event, record: Record
) -> None:
    n = 0
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            batch = events.sample(BATCH, random_state=n)
            batch = batch.assign(event_id=f"L{n}-" + batch["event_id"].astype("str"))
            rows = {"events": event_rows(batch)}
            _timed(record, client.post, f"{server.base}/v1/events", json=rows, headers=headers)
            n += 1


def _settle_loop(
    server: Server,
    headers: dict[str, str],
    periods: list[dict[str, str]],
    stop: threading.Event,
    record: Record,
) -> None:
    i = 0
    with httpx.Client(timeout=120) as client:
        while not stop.is_set():
            period = periods[i % len(periods)]
            end = pd.Timestamp(period["period_end"]) + pd.Timedelta(seconds=i)
            body = {**period, "period_end": end.isoformat()}
            key = {**headers, "Idempotency-Key": f"load-{i}"}
            _timed(record, client.post, f"{server.base}/v1/settlements", json=body, headers=key)
            i += 1


@contextmanager
def _garbage_part(store: Path, campaign_id: str) -> Iterator[str]:
    part = max(
        store.glob(f"{partition_name(campaign_id)}/day=*/part-*.parquet"), key=lambda p: p.stat().st_size
    )
    original = part.read_bytes()
    part.write_bytes(b"PAR1" + b"\0" * 64)
    try:
        yield f"garbage part file {part.parent.name}/{part.name[:20]}"
    finally:
        part.write_bytes(original)


@contextmanager
def _missing_partition(store: Path, campaign_id: str) -> Iterator[str]:
    folder = sorted(store.glob(f"{partition_name(campaign_id)}/day=*"))[0]
    away = folder.with_name("away")
    folder.rename(away)
    try:
        yield f"partition {folder.parent.name[:20]}/{folder.name} moved away"
    finally:
        away.rename(folder)


@contextmanager
def _database_away(database_url: str) -> Iterator[str]:
    name = make_url(database_url).database
    admin = create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
        )
    try:
        yield "database connections refused and cut"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def _inject(
    server: Server,
    *,
    campaign_id: str,
    seconds: float,
    every: float,
    stop: threading.Event,
    log: list[dict[str, Any]],
) -> None:
    """Store faults hit ``campaign_id`` (the one no new events go to, so its folders stay still)."""
    store = server.home / "events"
    faults: list[Callable[[], Any]] = [
        lambda: _garbage_part(store, campaign_id),
        lambda: _missing_partition(store, campaign_id),
    ]
    if server.database_url is not None:
        faults.append(lambda: _database_away(server.database_url or ""))
    started = time.monotonic()
    killed = False
    k = 0
    while not stop.wait(every):
        at = round(time.monotonic() - started, 1)
        if not killed and at >= seconds / 3:
            server.kill()
            log.append({"at_s": at, "fault": "SIGKILL; restarted", "ready_after_s": round(server.start(), 1)})
            killed = True
            continue
        with faults[k % len(faults)]() as what:
            log.append({"at_s": at, "fault": what, "held_s": HOLD_S})
            stop.wait(HOLD_S)
        k += 1


def _invariants(server: Server, url: str) -> dict[str, Any]:
    """Money and data after the run: the ledger (its claims never overlap, so no engagement is in
    two settlements) holds only accepted events, none twice, and exactly the events the
    settlements say they cover; the store holds exactly the accepted events."""
    engine = make_engine(url)
    repo = SettlementRepository(Database(engine))
    with engine.connect() as connection:
        bodies = list(connection.execute(text("SELECT body FROM settlements")).scalars())
        accepted = set(connection.execute(text("SELECT event_id FROM events")).scalars())
        campaigns = list(connection.execute(text("SELECT DISTINCT campaign_id FROM settlements")).scalars())
    held = [event_id for campaign in campaigns for event_id, _ in repo.settled_events(campaign)]
    engine.dispose()
    not_accepted = len(set(held) - accepted)
    ledger = len(held)
    stored = EventStore(server.home / "events").read(
        start=pd.Timestamp("2000-01-01", tz="UTC"), end=pd.Timestamp("2100-01-01", tz="UTC")
    )
    return {
        "settlements_recorded": len(bodies),
        "events_settled_by_bodies": sum(json.loads(body)["n_events"] for body in bodies),
        "ledger_rows": ledger,
        "ledger_events_never_accepted": not_accepted,
        "ledger_events_held_twice": len(held) - len(set(held)),
        "events_accepted": len(accepted),
        "store_equals_accepted": set(stored["event_id"].astype("str")) == accepted,
        "readyz_after": httpx.get(f"{server.base}/readyz", timeout=30).status_code,
    }


def bench_database(name: str, *, seconds: float, every: float) -> dict[str, Any]:
    """One database: a fresh deployment, loaded and faulted for ``seconds``; its numbers."""
    sim = simulate(SimConfig(seed=3, scale=0.05))
    database = postgres_database() if name == "postgresql" else nullcontext(None)
    with tempfile.TemporaryDirectory() as tmp, database as url:
        home = Path(tmp) / "home"
        env = service_env(home, url)
        keys = create_keys(env, name="fault load")
        server = Server(home=home, database_url=url, env=env)
        server.start()
        try:
            billing = {"Authorization": f"Bearer {keys['billing']}"}
            periods = _register(server, sim.campaigns, sim.events, billing)
            records, faults = _load_with_faults(
                server, sim.events, periods, billing, seconds=seconds, every=every
            )
            return {
                "database": name,
                "seconds": seconds,
                "requests": {kind: record.summary() for kind, record in sorted(records.items())},
                "faults": faults,
                "invariants": _invariants(server, url or f"sqlite:///{(home / 'cpeguard.db').resolve()}"),
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            }
        finally:
            server.stop()


def _register(
    server: Server, campaigns: pd.DataFrame, events: pd.DataFrame, billing: dict[str, str]
) -> list[dict[str, str]]:
    """Register the campaigns and ingest the events; each campaign's window as a settlement body."""
    periods = []
    for campaign_id in campaigns["campaign_id"].astype("str"):
        terms = campaign_terms(campaigns, campaign_id)
        url = f"{server.base}/v1/campaigns/{campaign_id}"
        httpx.put(url, json=terms, headers=billing, timeout=60).raise_for_status()
        window = {"period_start": terms["window_start"], "period_end": terms["window_end"]}
        periods.append({"campaign_id": campaign_id, **window})
    for start in range(0, len(events), 5000):
        rows = {"events": event_rows(events.iloc[start : start + 5000])}
        httpx.post(f"{server.base}/v1/events", json=rows, headers=billing, timeout=120).raise_for_status()
    return periods


def _load_with_faults(
    server: Server,
    events: pd.DataFrame,
    periods: list[dict[str, str]],
    billing: dict[str, str],
    *,
    seconds: float,
    every: float,
) -> tuple[dict[str, Record], list[dict[str, Any]]]:
    """Ingest into every campaign but the first, settle all, fault the first's store, for ``seconds``."""
    faulted = periods[0]["campaign_id"]
    records: dict[str, Record] = defaultdict(Record)
    faults: list[dict[str, Any]] = []
    stop = threading.Event()
    fresh = events[events["campaign_id"].astype("str") != faulted]
    injector = {"campaign_id": faulted, "seconds": seconds, "every": every, "stop": stop, "log": faults}
    workers = [
        threading.Thread(target=_ingest_loop, args=(server, billing, fresh, stop, records["ingest"])),
        threading.Thread(target=_settle_loop, args=(server, billing, periods, stop, records["settlement"])),
        threading.Thread(target=_inject, args=(server,), kwargs=injector),
    ]
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join(timeout=300)
    return records, faults


def _table(runs: list[dict[str, Any]]) -> str:
    rows = [
        "| database | request | answers by status | p50 / p99 ms (2xx, 409) | p50 / p99 ms (all) |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for run in runs:
        for kind, summary in run["requests"].items():
            statuses = ", ".join(f"{code}: {n}" for code, n in summary["statuses"].items())
            ok, every = summary["answered_2xx_409"], summary["all"]
            rows.append(
                f"| {run['database']} | {kind} | {statuses} "
                f"| {ok.get('p50_ms', '-')} / {ok.get('p99_ms', '-')} "
                f"| {every.get('p50_ms', '-')} / {every.get('p99_ms', '-')} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--fault-every", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    runs = [
        bench_database(name, seconds=args.seconds, every=args.fault_every)
        for name in args.databases.split(",")
    ]
    results = {
        "command": " ".join([".venv/bin/python -m benchmarks.fault_load", *sys.argv[1:]]),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(_table(runs))
    for run in runs:
        print(run["database"], json.dumps(run["invariants"]), json.dumps(run["faults"]))


if __name__ == "__main__":
    main()
