"""The event index: which events are stored, in which ingest batch, and how many lie in a period."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from serving.db.claims import Piece, ids_in_pieces
from serving.db.database import Repository
from serving.db.models import IngestBatch, StoredEvent

CHUNK = 5000  # ids per IN list and rows per insert


class EventRepository(Repository):
    """Queries of the stored events' index and the ingest batches."""

    def existing_event_ids(self, session: Session, event_ids: Sequence[str]) -> set[str]:
        """Which of these event ids are already stored."""
        found: set[str] = set()
        for i in range(0, len(event_ids), CHUNK):
            chunk = event_ids[i : i + CHUNK]
            found.update(session.scalars(select(StoredEvent.event_id).where(StoredEvent.event_id.in_(chunk))))
        return found

    def add_events(self, session: Session, rows: Iterable[dict[str, Any]]) -> None:
        """Index new events (bulk insert)."""
        batch = list(rows)
        for i in range(0, len(batch), CHUNK):
            session.execute(insert(StoredEvent), batch[i : i + CHUNK])

    def add_batch(self, session: Session, batch: IngestBatch) -> int:
        """Record an ingest batch in the caller's transaction; returns its id (arrival order).

        Batches commit in id order, whatever the number of service processes: the ledger's claims
        and detection runs read "every batch up to b", so a batch numbered below one already
        committed must not commit later. SQLite's transactions take the write lock when they
        begin (``BEGIN IMMEDIATE``); on PostgreSQL the table lock below (which conflicts with
        itself, not with readers) is held until this transaction ends, so the next batch's id is
        taken after this one commits or rolls back.
        """
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("LOCK TABLE ingest_batches IN SHARE ROW EXCLUSIVE MODE"))
        session.add(batch)
        session.flush()
        return batch.id

    def committed_batches(self, batch_ids: Iterable[int]) -> set[int]:
        """Which of these ingest batches the database holds."""
        wanted = sorted(set(batch_ids))
        found: set[int] = set()
        with self.session() as session:
            for i in range(0, len(wanted), CHUNK):
                chunk = wanted[i : i + CHUNK]
                found.update(session.scalars(select(IngestBatch.id).where(IngestBatch.id.in_(chunk))))
        return found

    def count_events(
        self,
        *,
        start: datetime,
        end: datetime,
        campaign_id: str | None = None,
        through_batch: int | None = None,
    ) -> int:
        """How many distinct events lie in ``[start, end)`` (of batches up to ``through_batch``)."""
        with self.session() as session:
            query = select(func.count()).select_from(StoredEvent)
            query = query.where(StoredEvent.ts >= start, StoredEvent.ts < end)
            if campaign_id is not None:
                query = query.where(StoredEvent.campaign_id == campaign_id)
            if through_batch is not None:
                query = query.where(StoredEvent.batch_id <= through_batch)
            return int(session.scalar(query) or 0)

    def has_events(self, *, start: datetime, end: datetime, campaign_id: str) -> bool:
        """Whether the campaign has any stored event in ``[start, end)`` (one index probe)."""
        with self.session() as session:
            query = select(StoredEvent.event_id).where(
                StoredEvent.campaign_id == campaign_id, StoredEvent.ts >= start, StoredEvent.ts < end
            )
            return session.scalar(query.limit(1)) is not None

    def last_batch_id(
        self, *, start: datetime | None = None, end: datetime | None = None, campaign_id: str | None = None
    ) -> int:
        """The latest batch that brought events (into a period and campaign, if given)."""
        with self.session() as session:
            if start is None or end is None:
                return int(session.scalar(select(func.max(IngestBatch.id))) or 0)
            query = select(func.max(StoredEvent.batch_id)).where(
                StoredEvent.ts >= start, StoredEvent.ts < end
            )
            if campaign_id is not None:
                query = query.where(StoredEvent.campaign_id == campaign_id)
            return int(session.scalar(query) or 0)

    def mark_visible(self) -> None:
        """On PostgreSQL, vacuum the events' index table (pages written since the last vacuum only).

        Called once per detection run, before its settlements: a settlement's claim counts the
        events it holds (the money check) by the index alone only on pages the visibility map marks
        all-visible; on a freshly written page each index entry costs a heap fetch as well
        (115,704 heap fetches for the API benchmark's whole campaign). SQLite has no such map.
        """
        if self.db.engine.dialect.name != "postgresql":
            return
        with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # an autovacuum of the table at work already: skip, rather than hold up the run's end
            connection.execute(text(f"VACUUM (SKIP_LOCKED) {StoredEvent.__tablename__}"))

    def ids_in_pieces(self, campaign_id: str, pieces: Sequence[Piece]) -> list[set[str]]:
        """The ids of the campaign's stored events in each box (times x batches), box by box."""
        if not pieces:
            return []
        with self.session() as session:
            return ids_in_pieces(session, campaign_id, pieces)
