"""The ledger's bulk claim (driver executemany on SQLite, COPY on PostgreSQL) keeps the invariant.

Real databases: the service's SQLite file and a fresh PostgreSQL database (``database_url``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from serving.db.database import Database
from serving.db.engine import make_engine, migrate
from serving.db.models import IngestBatch, SettledEngagement, Settlement, StoredEvent
from serving.db.settlements import SettlementRepository
from serving.statuses import SettlementStatus

CAMPAIGN = "cmp\tA"
START = datetime(2025, 3, 1, tzinfo=UTC)
# ids COPY's text form must escape, and times with microseconds and sub-microseconds
IDS = ["e-plain", "e\\back", "e\ttab", "e\nline", "e\rreturn", "ü-ä"]
TIMES = [START + timedelta(hours=i, microseconds=123_456 + i) for i in range(len(IDS))]


@pytest.fixture
def repo(tmp_path: Path, database_url: str | None) -> Iterator[SettlementRepository]:
    engine = make_engine(database_url or f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    db = Database(engine)
    with db.session() as session:
        batch = IngestBatch(
            source="t",
            n_rows=len(IDS),
            accepted=len(IDS),
            duplicates=0,
            rejected=0,
            actor="t",
            created_at=START,
        )
        session.add(batch)
        session.flush()
        for event_id, ts in zip(IDS, TIMES, strict=True):
            session.add(StoredEvent(event_id=event_id, campaign_id=CAMPAIGN, ts=ts, batch_id=batch.id))
    yield SettlementRepository(db)
    engine.dispose()


def _claim(repo: SettlementRepository, settlement_id: str, covered: pd.DataFrame) -> None:
    zero = Decimal("0")
    with repo.session() as session:
        session.add(
            Settlement(
                id=settlement_id,
                idempotency_key=settlement_id,
                request_hash="0" * 64,
                campaign_id=CAMPAIGN,
                period_start=START,
                period_end=START + timedelta(days=1) + timedelta(seconds=len(settlement_id)),
                run_id=None,
                status=SettlementStatus.SETTLED,
                claimed_amount=zero,
                payable_amount=zero,
                held_amount=zero,
                body="{}",
                actor="t",
                created_at=START,
            )
        )
        session.flush()
        repo.add_to_ledger(session, settlement_id, CAMPAIGN, covered)


def test_bulk_claim_stores_each_row_and_refuses_a_second_claim(repo: SettlementRepository) -> None:
    # nanoseconds in the input: stored floored to the microsecond, as the events' index holds them
    frame = pd.DataFrame(
        {"event_id": IDS, "ts": pd.to_datetime(TIMES, utc=True) + pd.Timedelta(nanoseconds=700)}
    )
    _claim(repo, "stl_first", frame.iloc[::-1])  # any order in, key order written
    with repo.session() as session:
        stored = (
            session.execute(select(SettledEngagement).order_by(SettledEngagement.event_id)).scalars().all()
        )
        got = {(r.event_id, r.settlement_id, r.campaign_id, r.ts.replace(tzinfo=UTC)) for r in stored}
    assert got == {(e, "stl_first", CAMPAIGN, t) for e, t in zip(IDS, TIMES, strict=True)}
    # the period queries find every claimed event by its time, and coverage sees none open
    assert repo.settled_in(CAMPAIGN, START, START + timedelta(days=1)) == dict.fromkeys(IDS, "stl_first")
    assert repo.coverage(CAMPAIGN, START, START + timedelta(days=1)) == (0, ["stl_first"])
    # a second settlement claiming one settled event among new ones commits nothing at all
    with pytest.raises(IntegrityError):
        _claim(repo, "stl_second", frame.iloc[[2]])
    assert repo.settlement("stl_second") is None
    assert repo.ledger_of("stl_second") == []
