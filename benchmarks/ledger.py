"""The engagement ledger's own costs, in process, on SQLite and on PostgreSQL.

Run: ``.venv/bin/python -m benchmarks.ledger [--databases sqlite,postgresql] [--out FILE]``.

The settlement API benchmark's big campaign (``benchmarks.api_campaigns.big_campaign``,
231,949 events) is indexed in a fresh, migrated database (SQLite file in a temporary
directory; PostgreSQL: a fresh database, dropped afterwards), then, timed (wall and this
process's CPU), on the repository that settlements use:

1. ``settled_in`` and ``coverage`` of the whole campaign on the empty ledger;
2. the whole campaign's ledger claim (``add_to_ledger`` in the settlement's transaction,
   the settlement row inserted first, commit included), as one settlement makes it;
3. ``coverage`` and ``settled_in`` of the whole campaign once it is all settled (a refusal);
4. a second settlement claiming one already settled event: must fail (the invariant).

Results go to ``--out`` (default ``benchmarks/results/ledger.json``).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from benchmarks.api_campaigns import BIG_CAMPAIGN, BIG_END, BIG_START, big_campaign
from benchmarks.live_server import postgres_database
from serving.db import settlements
from serving.db.database import Database, utcnow
from serving.db.engine import make_engine, migrate
from serving.db.models import IngestBatch, Settlement, StoredEvent
from serving.db.settlements import SettlementRepository
from serving.statuses import SettlementStatus

RESULTS = Path(__file__).resolve().parent / "results" / "ledger.json"


@contextmanager
def _timed(into: dict[str, Any], name: str) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into[name] = {
        "wall_ms": round((time.perf_counter() - wall) * 1000, 1),
        "cpu_ms": round((time.process_time() - cpu) * 1000, 1),
    }


def _settlement(settlement_id: str) -> Settlement:
    zero = Decimal("0")
    return Settlement(
        id=settlement_id,
        idempotency_key=settlement_id,
        request_hash="0" * 64,
        campaign_id=BIG_CAMPAIGN,
        period_start=BIG_START,
        period_end=BIG_END,
        run_id=None,
        status=SettlementStatus.SETTLED,
        claimed_amount=zero,
        payable_amount=zero,
        held_amount=zero,
        body="{}",
        actor="bench",
        created_at=utcnow(),
    )


def _index_events(db: Database, events: pd.DataFrame) -> None:
    """The events' index rows, as ingest writes them (one batch)."""
    ts = pd.to_datetime(events["ts"], utc=True).dt.floor("us").dt.to_pydatetime()
    with db.session() as session:
        batch = IngestBatch(
            source="bench",
            n_rows=len(events),
            accepted=len(events),
            duplicates=0,
            rejected=0,
            actor="bench",
            created_at=utcnow(),
        )
        session.add(batch)
        session.flush()
        rows = [
            {"event_id": e, "campaign_id": BIG_CAMPAIGN, "ts": t, "batch_id": batch.id}
            for e, t in zip(events["event_id"].astype("str").tolist(), ts, strict=True)
        ]
        for i in range(0, len(rows), 50_000):
            session.execute(insert(StoredEvent), rows[i : i + 50_000])


def _server_cpu_ms(pid: int | None) -> float:
    """CPU of a PostgreSQL backend on this machine, from /proc (0 on SQLite: it runs in process)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _claim(
    repo: SettlementRepository,
    settlement_id: str,
    covered: pd.DataFrame,
    server: dict[str, Any] | None = None,
) -> None:
    """One settlement's row and its ledger claim in one transaction, as ``record_settlement`` writes them.

    ``server`` gets the PostgreSQL backend's CPU during the claim (commit included)."""
    pid: int | None = None
    with repo.session() as session:
        if session.connection().dialect.name == "postgresql":
            pid = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        started = _server_cpu_ms(pid)
        session.add(_settlement(settlement_id))
        session.flush()
        if len(inspect.signature(repo.add_to_ledger).parameters) == 2:  # the code before 2026-12-06
            moments = pd.to_datetime(covered["ts"], utc=True).dt.floor("us").dt.to_pydatetime()
            rows = [
                (e, settlement_id, BIG_CAMPAIGN, t) for e, t in zip(covered["event_id"], moments, strict=True)
            ]
            repo.add_to_ledger(session, rows)  # type: ignore[call-arg,arg-type,unused-ignore]
        else:
            repo.add_to_ledger(session, settlement_id, BIG_CAMPAIGN, covered)  # type: ignore[call-arg,arg-type,unused-ignore]
    if server is not None:
        server["server_cpu_ms"] = round(_server_cpu_ms(pid) - started, 1)


def _plans(db: Database) -> dict[str, list[str]]:
    """The database's plan of each coverage query over the whole campaign."""
    plans: dict[str, list[str]] = {}
    if not hasattr(settlements, "open_count_query"):
        return plans
    with db.session() as session:
        connection = session.connection()
        explain = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "
        for name in ("open_count_query", "covering_query"):
            query = getattr(settlements, name)(BIG_CAMPAIGN, BIG_START, BIG_END)
            compiled = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
            rows = connection.exec_driver_sql(explain + str(compiled)).all()
            plans[name] = [" | ".join(str(v) for v in row) for row in rows]
    return plans


def bench(database_url: str, events: pd.DataFrame) -> dict[str, Any]:
    """Every measurement on one fresh database."""
    engine = make_engine(database_url)
    migrate(engine)
    db = Database(engine)
    repo = SettlementRepository(db)
    _index_events(db, events)
    covered = events[["event_id", "ts"]].astype({"event_id": "str"})
    out: dict[str, Any] = {
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "rows": len(covered),
    }
    step: Callable[[str], Any] = lambda name: _timed(out, name)  # noqa: E731
    with step("settled_in_empty"):
        repo.settled_in(BIG_CAMPAIGN, BIG_START, BIG_END)
    with step("coverage_empty"):
        out["coverage_empty_result"] = repo.coverage(BIG_CAMPAIGN, BIG_START, BIG_END)[0]
    server: dict[str, Any] = {}
    with step("claim_whole"):
        _claim(repo, "stl_whole", covered, server)
    out["claim_whole"].update(server)
    with step("coverage_settled"):
        n_open, covering = repo.coverage(BIG_CAMPAIGN, BIG_START, BIG_END)
    out["coverage_settled_result"] = [n_open, covering]
    with step("settled_in_settled"):
        out["settled_in_settled_result"] = len(repo.settled_in(BIG_CAMPAIGN, BIG_START, BIG_END))
    out["plans"] = _plans(db)
    if hasattr(settlements, "open_count_query"):
        for name in ("open_count_query", "covering_query"):
            with step(f"{name}_settled"), db.session() as session:
                session.execute(getattr(settlements, name)(BIG_CAMPAIGN, BIG_START, BIG_END)).all()
    try:
        _claim(repo, "stl_twice", covered.tail(1))
        out["double_claim"] = "committed (the invariant is broken)"
    except IntegrityError:
        out["double_claim"] = "refused (IntegrityError)"
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    events = big_campaign()[0].drop_duplicates("event_id")
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python -m benchmarks.ledger", *sys.argv[1:]]),
        "events": len(events),
        "databases": {},
    }
    for database in args.databases.split(","):
        with (
            tempfile.TemporaryDirectory(prefix="cpeguard-ledger-") as tmp,
            postgres_database() if database == "postgresql" else nullcontext(None) as url,
        ):
            got = bench(url or f"sqlite:///{tmp}/ledger.db", events)
        results["databases"][database] = got
        print(database, json.dumps(got), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
