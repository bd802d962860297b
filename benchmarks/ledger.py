"""The engagement ledger's own costs, in process, on SQLite and on PostgreSQL.

Run: ``.venv/bin/python -m benchmarks.ledger [--databases sqlite,postgresql] [--out FILE]``.

The settlement API benchmark's big campaign (``benchmarks.api_campaigns.big_campaign``,
231,949 events) is indexed in a fresh, migrated database (SQLite file in a temporary
directory; PostgreSQL: a fresh database, dropped afterwards), then, timed (wall and this
process's CPU), on the repository that settlements use:

1. ``ledger_about`` and ``coverage`` of the whole campaign on the empty ledger;
2. the whole campaign's claim (``add_to_ledger`` in the settlement's transaction, the
   settlement row inserted first, commit included), as one settlement makes it;
3. ``coverage`` and ``settled_in`` of the whole campaign once it is all settled (a refusal);
   before the whole claim, ``ledger_about`` (what a settlement reads: claimed pieces) and
   ``settled_in`` (every settled event's id, for audits) are timed apart;
4. a second settlement claiming the same period again, as if it had read the ledger before
   the first committed: must fail (the invariant).

Results go to ``--out`` (default ``benchmarks/results/ledger.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from benchmarks.api_campaigns import BIG_CAMPAIGN, BIG_END, BIG_START, big_campaign
from benchmarks.api_settlements import N_SETTLE, N_SLICES, event_span
from benchmarks.live_server import postgres_database
from serving.db.claims import Claim, claimed_events
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


def empty_settlement(
    settlement_id: str,
    period: tuple[datetime, datetime],
    *,
    campaign_id: str = BIG_CAMPAIGN,
    created_at: datetime | None = None,
) -> Settlement:
    """A settlement row paying nothing (zero amounts, body ``{}``) for claims to hang on, as the
    ledger's benchmark and tests write them beside ``add_to_ledger``."""
    zero = Decimal("0")
    return Settlement(
        id=settlement_id,
        idempotency_key=settlement_id,
        request_hash="0" * 64,
        campaign_id=campaign_id,
        period_start=period[0],
        period_end=period[1],
        run_id=None,
        status=SettlementStatus.SETTLED,
        claimed_amount=zero,
        payable_amount=zero,
        held_amount=zero,
        body="{}",
        actor="bench",
        created_at=created_at or utcnow(),
    )


def index_events(db: Database, events: pd.DataFrame, *, source: str = "bench") -> int:
    """The events' index rows (columns event_id, campaign_id, ts), as ingest writes them: one
    batch, times floored to the microsecond. Returns the batch's id."""
    ts = pd.to_datetime(events["ts"], utc=True).dt.floor("us").dt.to_pydatetime()
    with db.session() as session:
        batch = IngestBatch(
            source=source,
            n_rows=len(events),
            accepted=len(events),
            duplicates=0,
            rejected=0,
            actor=source,
            created_at=utcnow(),
        )
        session.add(batch)
        session.flush()
        rows = [
            {"event_id": e, "campaign_id": c, "ts": t, "batch_id": batch.id}
            for e, c, t in zip(
                events["event_id"].astype("str").tolist(),
                events["campaign_id"].astype("str").tolist(),
                ts,
                strict=True,
            )
        ]
        for i in range(0, len(rows), 50_000):
            session.execute(insert(StoredEvent), rows[i : i + 50_000])
        return int(batch.id)


def _server_cpu_ms(pid: int | None) -> float:
    """CPU of a PostgreSQL backend on this machine, from /proc (0 on SQLite: it runs in process)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _claim(
    repo: SettlementRepository,
    settlement_id: str,
    claim: Claim,
    server: dict[str, Any] | None = None,
    period: tuple[datetime, datetime] = (BIG_START, BIG_END),
) -> None:
    """One settlement's row and its claim in one transaction, as ``record_settlement`` writes them.

    ``server`` gets the PostgreSQL backend's CPU during the claim (commit included)."""
    pid: int | None = None
    with repo.session() as session:
        if session.connection().dialect.name == "postgresql":
            pid = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        started = _server_cpu_ms(pid)
        session.add(empty_settlement(settlement_id, period))
        session.flush()
        repo.add_to_ledger(session, settlement_id, BIG_CAMPAIGN, claim)
    if server is not None:
        server["server_cpu_ms"] = round(_server_cpu_ms(pid) - started, 1)


def _claim_disjoint(repo: SettlementRepository, events: pd.DataFrame, batch: int) -> list[float]:
    """The API benchmark's disjoint settlements' claims (``api_settlements``: the first half of the
    events' span cut in periods), one transaction each; their wall times in ms."""
    span = event_span(events)
    step = timedelta(seconds=math.ceil((span[1] - span[0]).total_seconds() / N_SLICES))
    ts = pd.to_datetime(events["ts"], utc=True).dt.floor("us")
    walls: list[float] = []
    for i in range(N_SETTLE):
        start, end = span[0] + i * step, span[0] + (i + 1) * step
        n_events = int(((ts >= start) & (ts < end)).sum())
        started = time.perf_counter()
        taken = repo.ledger_about(BIG_CAMPAIGN, start, end).taken
        _claim(repo, f"stl_{i:02d}", Claim(start, end, batch, taken, n_events), period=(start, end))
        walls.append((time.perf_counter() - started) * 1000)
    return walls


def _plans(db: Database) -> dict[str, list[str]]:
    """The database's plan of ``settled_in``'s read of the claims over the whole campaign."""
    plans: dict[str, list[str]] = {}
    query = claimed_events(campaign_id=BIG_CAMPAIGN, period=(BIG_START, BIG_END))
    with db.session() as session:
        connection = session.connection()
        explain = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "
        compiled = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
        rows = connection.exec_driver_sql(explain + str(compiled)).all()
        plans["settled_in"] = [" | ".join(str(v) for v in row) for row in rows]
    return plans


def bench(database_url: str, events: pd.DataFrame) -> dict[str, Any]:
    """Every measurement on one fresh database."""
    engine = make_engine(database_url)
    migrate(engine)
    db = Database(engine)
    repo = SettlementRepository(db)
    batch = index_events(db, events.assign(campaign_id=BIG_CAMPAIGN))
    out: dict[str, Any] = {
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "rows": len(events),
    }
    step: Callable[[str], Any] = lambda name: _timed(out, name)  # noqa: E731
    with step("ledger_about_empty"):
        repo.ledger_about(BIG_CAMPAIGN, BIG_START, BIG_END)
    with step("coverage_empty"):
        out["coverage_empty_result"] = repo.coverage(BIG_CAMPAIGN, BIG_START, BIG_END)[0]
    walls = _claim_disjoint(repo, events, batch)
    out["claim_disjoint"] = {"n": len(walls), "median_ms": round(float(np.median(walls)), 1)}
    with step("ledger_about_before_whole"):
        before = repo.ledger_about(BIG_CAMPAIGN, BIG_START, BIG_END)
    with step("settled_in_before_whole"):
        n_settled = len(repo.settled_in(BIG_CAMPAIGN, BIG_START, BIG_END))
    claim = Claim(BIG_START, BIG_END, batch, before.taken, len(events) - n_settled)
    out["whole_claims_events"] = claim.n_events
    server: dict[str, Any] = {}
    with step("claim_whole"):
        _claim(repo, "stl_whole", claim, server)
    out["claim_whole"].update(server)
    with step("coverage_settled"):
        n_open, covering = repo.coverage(BIG_CAMPAIGN, BIG_START, BIG_END)
    out["coverage_settled_result"] = [n_open, covering]
    with step("settled_in_settled"):
        out["settled_in_settled_result"] = len(repo.settled_in(BIG_CAMPAIGN, BIG_START, BIG_END))
    out["plans"] = _plans(db)
    try:
        _claim(repo, "stl_twice", claim)  # read the ledger before stl_whole committed
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
