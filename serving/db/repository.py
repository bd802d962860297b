"""Every query of the settlement service; services call these, routes never do."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from serving.db.models import (
    Adjustment,
    ApiKey,
    AuditEntry,
    Campaign,
    DetectionRun,
    IngestBatch,
    Settlement,
    SettlementPost,
    SettlementSignoff,
    StoredEvent,
)
from serving.statuses import RunStatus

_CHUNK = 5000
_COPY_POSTS = (
    "COPY settlement_posts (settlement_id, post_id, creator_id, decision, payable, held_amount) FROM STDIN"
)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A stored datetime as aware UTC (SQLite returns naive values)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Repository:
    """Sessions and queries over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    # audit ---------------------------------------------------------------------------------
    def audit(
        self,
        session: Session,
        *,
        actor: str,
        role: str,
        action: str,
        target: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one audit row in the caller's transaction."""
        session.add(
            AuditEntry(
                at=utcnow(),
                actor=actor,
                role=role,
                action=action,
                target=target,
                detail=json.dumps(detail or {}, sort_keys=True, default=str),
            )
        )

    def add_audit_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append queued audit rows (columns of ``AuditEntry`` but ``id``) in one transaction."""
        if rows:
            with self.session() as session:
                session.execute(insert(AuditEntry), list(rows))

    def audit_entries(self, *, target: str | None, limit: int) -> Sequence[AuditEntry]:
        """The latest audit rows, newest last (of one target, or all)."""
        with self.session() as session:
            query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if target is not None:
                query = query.where(AuditEntry.target == target)
            return list(reversed(session.scalars(query).all()))

    # keys ----------------------------------------------------------------------------------
    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this digest, if any."""
        with self.session() as session:
            return session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()

    def api_keys(self) -> Sequence[ApiKey]:
        """All keys, oldest first."""
        with self.session() as session:
            return session.scalars(select(ApiKey).order_by(ApiKey.created_at)).all()

    # campaigns -----------------------------------------------------------------------------
    def campaign(self, campaign_id: str) -> Campaign | None:
        """One campaign."""
        with self.session() as session:
            return session.get(Campaign, campaign_id)

    def campaigns(self) -> Sequence[Campaign]:
        """All campaigns."""
        with self.session() as session:
            return session.scalars(select(Campaign).order_by(Campaign.campaign_id)).all()

    # events --------------------------------------------------------------------------------
    def existing_event_ids(self, session: Session, event_ids: Sequence[str]) -> set[str]:
        """Which of these event ids are already stored."""
        found: set[str] = set()
        for i in range(0, len(event_ids), _CHUNK):
            chunk = event_ids[i : i + _CHUNK]
            found.update(session.scalars(select(StoredEvent.event_id).where(StoredEvent.event_id.in_(chunk))))
        return found

    def add_events(self, session: Session, rows: Iterable[dict[str, Any]]) -> None:
        """Index new events (bulk insert)."""
        batch = list(rows)
        for i in range(0, len(batch), _CHUNK):
            session.execute(insert(StoredEvent), batch[i : i + _CHUNK])

    def add_batch(self, session: Session, batch: IngestBatch) -> int:
        """Record an ingest batch; returns its id (arrival order)."""
        session.add(batch)
        session.flush()
        return batch.id

    def count_events(self, *, start: datetime, end: datetime, campaign_id: str | None = None) -> int:
        """How many distinct events lie in ``[start, end)``."""
        with self.session() as session:
            query = select(func.count()).select_from(StoredEvent)
            query = query.where(StoredEvent.ts >= start, StoredEvent.ts < end)
            if campaign_id is not None:
                query = query.where(StoredEvent.campaign_id == campaign_id)
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

    # detection runs ------------------------------------------------------------------------
    def run(self, run_id: str) -> DetectionRun | None:
        """One detection run."""
        with self.session() as session:
            return session.get(DetectionRun, run_id)

    def update_run(self, run_id: str, **values: Any) -> None:
        """Set fields of a detection run."""
        with self.session() as session:
            run = session.get(DetectionRun, run_id)
            if run is not None:
                for key, value in values.items():
                    setattr(run, key, value)

    def fail_unfinished_runs(self, *, error: str) -> list[str]:
        """Mark every queued or running detection run failed; returns their ids."""
        with self.session() as session:
            query = select(DetectionRun).where(DetectionRun.status.in_((RunStatus.QUEUED, RunStatus.RUNNING)))
            runs = session.scalars(query.with_for_update()).all()
            for run in runs:
                run.status = RunStatus.FAILED
                run.error = error
                run.finished_at = utcnow()
            return [run.id for run in runs]

    def covering_run(self, *, start: datetime, end: datetime) -> DetectionRun | None:
        """The latest finished run whose period covers ``[start, end)``."""
        with self.session() as session:
            query = (
                select(DetectionRun)
                .where(
                    DetectionRun.status == RunStatus.DONE,
                    DetectionRun.period_start <= start,
                    DetectionRun.period_end >= end,
                )
                .order_by(DetectionRun.created_at.desc())
                .limit(1)
            )
            return session.scalars(query).first()

    def recent_runs(self, *, limit: int) -> Sequence[DetectionRun]:
        """The latest finished runs, newest first."""
        with self.session() as session:
            query = (
                select(DetectionRun)
                .where(DetectionRun.status == RunStatus.DONE)
                .order_by(DetectionRun.created_at.desc())
                .limit(limit)
            )
            return session.scalars(query).all()

    # settlements ---------------------------------------------------------------------------
    def settlement(self, settlement_id: str) -> Settlement | None:
        """One settlement."""
        with self.session() as session:
            return session.get(Settlement, settlement_id)

    def settlement_by_key(self, key: str) -> Settlement | None:
        """The settlement created under an idempotency key."""
        with self.session() as session:
            return session.scalars(select(Settlement).where(Settlement.idempotency_key == key)).first()

    def settlement_by_period(self, campaign_id: str, start: datetime, end: datetime) -> Settlement | None:
        """The settlement of a campaign and period."""
        with self.session() as session:
            query = select(Settlement).where(
                Settlement.campaign_id == campaign_id,
                Settlement.period_start == start,
                Settlement.period_end == end,
            )
            return session.scalars(query).first()

    def settlement_post(self, settlement_id: str, post_id: str) -> SettlementPost | None:
        """One post line of a settlement."""
        with self.session() as session:
            return session.get(SettlementPost, (settlement_id, post_id))

    def settlements_touching(
        self, *, creator_id: str | None, post_ids: Sequence[str], limit: int
    ) -> list[str]:
        """Ids of the latest settlements paying a creator or any of these posts."""
        with self.session() as session:
            query = select(SettlementPost.settlement_id, Settlement.created_at).join(
                Settlement, Settlement.id == SettlementPost.settlement_id
            )
            if creator_id is not None:
                query = query.where(SettlementPost.creator_id == creator_id)
            else:
                query = query.where(SettlementPost.post_id.in_(list(post_ids)[:_CHUNK]))
            rows = session.execute(query.order_by(Settlement.created_at.desc())).all()
        seen: list[str] = []
        for settlement_id, _ in rows:
            if settlement_id not in seen:
                seen.append(settlement_id)
        return seen[:limit]

    def add_settlement_posts(self, session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert settlement lines (settlement_id, post_id, creator_id, decision, payable, held_amount).

        PostgreSQL takes them with COPY in the session's transaction; others with executemany.
        """
        if not rows:
            return
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            driver = connection.connection.driver_connection
            assert driver is not None
            with driver.cursor() as cursor, cursor.copy(_COPY_POSTS) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        names = ("settlement_id", "post_id", "creator_id", "decision", "payable", "held_amount")
        table = cast(Table, SettlementPost.__table__)  # core insert: no ORM bookkeeping per row
        session.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])

    def adjustments(self, session: Session, settlement_id: str) -> Sequence[Adjustment]:
        """A settlement's adjustments, oldest first."""
        query = select(Adjustment).where(Adjustment.settlement_id == settlement_id)
        return session.scalars(query.order_by(Adjustment.created_at, Adjustment.id)).all()

    def adjustment_by_key(self, key: str) -> Adjustment | None:
        """The adjustment made under an idempotency key."""
        with self.session() as session:
            return session.scalars(select(Adjustment).where(Adjustment.idempotency_key == key)).first()

    def signoff_of(self, session: Session, settlement_id: str) -> SettlementSignoff | None:
        """The sign-off of a settlement, if given."""
        query = select(SettlementSignoff).where(SettlementSignoff.settlement_id == settlement_id)
        return session.scalars(query).first()
