"""The ledger of claims keeps the invariant: each stored event is held by at most one settlement.

Real databases: a SQLite file and a fresh PostgreSQL database (``database_url``). The claims'
arithmetic (``free_pieces``) is checked point by point against its definition.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from benchmarks.ledger import empty_settlement, index_events
from serving.db.claims import Claim, ClaimMismatch, Piece, add_claims, free_pieces
from serving.db.database import Database
from serving.db.engine import make_engine, migrate
from serving.db.events import EventRepository
from serving.db.models import IngestBatch
from serving.db.settlements import SettlementRepository

CAMPAIGN = "cmp\tA"
START = datetime(2025, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
# ids a text protocol must escape, and times with microseconds
IDS = ["e-plain", "e\\back", "e\ttab", "e\nline", "e\rreturn", "ü-ä"]
TIMES = [START + timedelta(hours=i, microseconds=123_456 + i) for i in range(len(IDS))]


@pytest.fixture
def stored(tmp_path: Path, database_url: str | None) -> Iterator[tuple[SettlementRepository, int]]:
    """A migrated database whose events' index holds IDS (one batch); the repository and the batch."""
    engine = make_engine(database_url or f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    db = Database(engine)
    batch = index_events(db, _events(IDS, TIMES), source="t")
    yield SettlementRepository(db), batch
    engine.dispose()


def _events(ids: list[str], times: list[datetime], campaign: str = CAMPAIGN) -> pd.DataFrame:
    return pd.DataFrame({"event_id": ids, "campaign_id": campaign, "ts": times})


def _claim(repo: SettlementRepository, settlement_id: str, claim: Claim) -> None:
    """A settlement's row and its claim in one transaction, as ``record_settlement`` writes them."""
    with repo.session() as session:
        session.add(
            empty_settlement(settlement_id, (claim.start, claim.end), campaign_id=CAMPAIGN, created_at=START)
        )
        session.flush()
        repo.add_to_ledger(session, settlement_id, CAMPAIGN, claim)


def _claim_read_now(
    repo: SettlementRepository, settlement_id: str, start: datetime, end: datetime, through: int
) -> None:
    """Read the ledger, then claim everything of ``[start, end)`` up to ``through`` it left open."""
    ledger = repo.ledger_about(CAMPAIGN, start, end)
    n_open = repo.coverage(CAMPAIGN, start, end)[0]
    _claim(repo, settlement_id, Claim(start, end, through, ledger.taken, n_open, ledger.after_listed))


def test_a_claim_holds_its_period_and_batches_and_a_late_batch_stays_open(
    stored: tuple[SettlementRepository, int],
) -> None:
    repo, batch = stored
    assert repo.settled_by(CAMPAIGN, START, START + DAY) == []  # open, none settled
    _claim_read_now(repo, "stl_first", START, START + DAY, batch)
    assert repo.settled_in(CAMPAIGN, START, START + DAY) == dict.fromkeys(IDS, "stl_first")
    assert repo.coverage(CAMPAIGN, START, START + DAY) == (0, ["stl_first"])
    assert repo.settled_by(CAMPAIGN, START, START + DAY) == ["stl_first"]
    assert sorted(repo.ledger_of("stl_first")) == sorted(IDS)
    # a later batch: one event late into the settled day, one on the next day
    late = index_events(repo.db, _events(["late", "next"], [START + timedelta(hours=2), START + DAY]))
    assert repo.coverage(CAMPAIGN, START, START + DAY) == (1, ["stl_first"])
    assert repo.coverage(CAMPAIGN, START, START + 2 * DAY) == (2, ["stl_first"])
    # an open event in the period: not settled, whoever holds the rest
    assert repo.settled_by(CAMPAIGN, START, START + DAY) == []
    # a settlement of both days made after it holds exactly the two, whatever its period says
    _claim_read_now(repo, "stl_two_days", START, START + 2 * DAY, late)
    assert sorted(repo.ledger_of("stl_two_days")) == ["late", "next"]
    assert repo.coverage(CAMPAIGN, START - DAY, START + 3 * DAY) == (0, ["stl_first", "stl_two_days"])
    assert repo.settled_by(CAMPAIGN, START - DAY, START + 3 * DAY) == ["stl_first", "stl_two_days"]
    settled = sorted(repo.settled_events(CAMPAIGN))
    assert settled == sorted(
        [*((e, "stl_first") for e in IDS), ("late", "stl_two_days"), ("next", "stl_two_days")]
    )


def test_an_overlapping_claim_is_refused_by_the_database_and_records_nothing(
    stored: tuple[SettlementRepository, int],
) -> None:
    repo, batch = stored
    before = repo.ledger_about(CAMPAIGN, START, START + DAY)  # read before the first claim commits
    _claim(repo, "stl_first", Claim(START, START + DAY, batch, before.taken, len(IDS)))
    # a period shifted by a microsecond, claimed as if the first were not there
    stale = Claim(START + timedelta(microseconds=1), START + DAY, batch, before.taken, len(IDS) - 1)
    with pytest.raises(IntegrityError):
        _claim(repo, "stl_second", stale)
    assert repo.settlement("stl_second") is None
    assert repo.ledger_of("stl_second") == []
    # the database itself refuses a piece sharing one moment and one batch with a claim
    with pytest.raises(IntegrityError), repo.session() as session:
        session.add(empty_settlement("stl_raw", (START, START + DAY), campaign_id=CAMPAIGN))
        session.flush()
        add_claims(
            session, "stl_raw", CAMPAIGN, [Piece(TIMES[3], TIMES[3] + timedelta(microseconds=1), 0, 1)]
        )
    assert sorted(repo.settled_events(CAMPAIGN)) == sorted((e, "stl_first") for e in IDS)


def test_a_claim_that_does_not_hold_what_was_decided_records_nothing(
    stored: tuple[SettlementRepository, int],
) -> None:
    repo, batch = stored
    # decided on one event fewer than the period's stored events of its batches (an unreadable batch)
    with pytest.raises(ClaimMismatch):
        _claim(repo, "stl_short", Claim(START, START + DAY, batch, (), len(IDS) - 1))
    assert repo.settlement("stl_short") is None
    assert repo.coverage(CAMPAIGN, START, START + DAY) == (len(IDS), [])


def test_stored_events_cannot_be_changed_or_removed(stored: tuple[SettlementRepository, int]) -> None:
    repo, _ = stored
    for statement in (
        "UPDATE events SET ts = ts WHERE event_id = 'e-plain'",
        "UPDATE events SET batch_id = batch_id + 1",
        "DELETE FROM events WHERE event_id = 'e-plain'",
    ):
        with pytest.raises(DBAPIError), repo.session() as session:
            session.execute(text(statement))
    assert repo.coverage(CAMPAIGN, START, START + DAY) == (len(IDS), [])


def test_concurrent_overlapping_claims_cannot_both_commit(stored: tuple[SettlementRepository, int]) -> None:
    """Two settlements read the empty ledger, then claim overlapping periods at the same time: the
    second waits for the first's transaction and is refused once it commits."""
    repo, batch = stored
    periods = {"stl_a": (START, START + DAY), "stl_b": (START + timedelta(hours=2), START + 2 * DAY)}
    read = {name: repo.ledger_about(CAMPAIGN, *period) for name, period in periods.items()}
    n_open = {name: repo.coverage(CAMPAIGN, *period)[0] for name, period in periods.items()}
    inserted, results = threading.Event(), {}

    def claim(name: str, hold: bool) -> None:
        start, end = periods[name]
        try:
            with repo.session() as session:
                session.add(empty_settlement(name, (start, end), campaign_id=CAMPAIGN))
                session.flush()
                repo.add_to_ledger(
                    session, name, CAMPAIGN, Claim(start, end, batch, read[name].taken, n_open[name])
                )
                if hold:  # the first keeps its transaction open while the second claims
                    inserted.set()
                    threading.Event().wait(0.5)
            results[name] = "committed"
        except IntegrityError:
            results[name] = "refused"
        finally:
            inserted.set()

    first = threading.Thread(target=claim, args=("stl_a", True))
    first.start()
    inserted.wait(10)
    second = threading.Thread(target=claim, args=("stl_b", False))
    second.start()
    first.join(20)
    second.join(20)
    assert results == {"stl_a": "committed", "stl_b": "refused"}
    assert {s for _, s in repo.settled_events(CAMPAIGN)} == {"stl_a"}


_BATCHES = 6
_MOMENTS = [START + timedelta(hours=h) for h in range(0, 49, 6)]
_box = st.tuples(
    st.integers(0, len(_MOMENTS) - 2), st.integers(1, len(_MOMENTS) - 1), st.integers(1, _BATCHES)
).filter(lambda b: b[0] < b[1])


@settings(max_examples=300, deadline=None)
@given(claims=st.lists(_box, min_size=1, max_size=6))
def test_successive_claims_are_disjoint_and_hold_exactly_what_earlier_claims_left(
    claims: list[tuple[int, int, int]],
) -> None:
    """Each claim of a period up to a batch, minus the pieces taken before it, checked at every
    (moment, batch) of a grid against the definition: held by the first claim whose box holds it."""
    taken: list[tuple[int, Piece]] = []
    for k, (a, b, through) in enumerate(claims):
        pieces = free_pieces(_MOMENTS[a], _MOMENTS[b], through, [p for _, p in taken])
        taken.extend((k, p) for p in pieces)
    half = timedelta(hours=3)
    for moment in [m + shift for m in _MOMENTS for shift in (timedelta(0), half)]:
        for batch in range(1, _BATCHES + 1):
            holders = [
                k
                for k, p in taken
                if p.ts_start <= moment < p.ts_end and p.batch_after < batch <= p.batch_through
            ]
            first = next(
                (
                    k
                    for k, (a, b, t) in enumerate(claims)
                    if _MOMENTS[a] <= moment < _MOMENTS[b] and batch <= t
                ),
                None,
            )
            assert holders == ([] if first is None else [first])


def test_ingest_batches_commit_in_the_order_of_their_ids(stored: tuple[SettlementRepository, int]) -> None:
    """Two writers (as two service processes would): the second batch's id is taken only once the
    first batch's transaction ends, so no batch commits after one with a higher id."""
    repo, _ = stored
    events = EventRepository(repo.db)
    first_added, order = threading.Event(), []

    def ingest(name: str, hold: float) -> None:
        with events.session() as session:
            batch_id = events.add_batch(session, IngestBatch(**_BATCH))
            order.append(("added", name, batch_id))
            first_added.set()
            threading.Event().wait(hold)  # the first keeps its transaction open a while
            order.append(("committing", name, batch_id))

    first = threading.Thread(target=ingest, args=("first", 0.5))
    first.start()
    first_added.wait(10)
    second = threading.Thread(target=ingest, args=("second", 0.0))
    second.start()
    first.join(20)
    second.join(20)
    steps = [(step, name) for step, name, _ in order]
    assert steps == [
        ("added", "first"),
        ("committing", "first"),
        ("added", "second"),
        ("committing", "second"),
    ]
    ids = {name: batch_id for _, name, batch_id in order}
    assert ids["first"] < ids["second"]


_BATCH = {
    "source": "t",
    "n_rows": 0,
    "accepted": 0,
    "duplicates": 0,
    "rejected": 0,
    "actor": "t",
    "created_at": START,
}


def test_marking_events_visible_lets_counts_read_the_index_alone(
    stored: tuple[SettlementRepository, int],
) -> None:
    repo, _ = stored
    events = EventRepository(repo.db)
    if repo.db.engine.dialect.name != "postgresql":
        events.mark_visible()  # SQLite has no visibility map: nothing to do, nothing fails
        return
    visible = "SELECT relallvisible FROM pg_class WHERE relname = 'events'"
    with repo.session() as session:
        assert session.scalar(text(visible)) == 0  # written, never vacuumed
    events.mark_visible()
    with repo.session() as session:
        assert session.scalar(text(visible)) >= 1  # its pages all-visible: no heap fetch per entry
