"""Detection runs: their status and progress, and which finished run covers a period."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from serving.db.database import Repository, utcnow
from serving.db.leased import renew_owned
from serving.db.models import DetectionRun
from serving.statuses import UNFINISHED, RunStatus

# the PostgreSQL advisory lock that serialises creating runs across processes (any fixed number
# no other lock of this database uses)
_CREATE_LOCK = 0x63706567_0001


class RunRepository(Repository):
    """Queries of the detection runs."""

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

    def update_unfinished(self, run_id: str, *, owner: str, **values: Any) -> bool:
        """Set fields of the owner's run unless it already ended (another process found its lease
        expired and failed it); whether it was set."""
        query = (
            update(DetectionRun)
            .where(
                DetectionRun.id == run_id, DetectionRun.owner == owner, DetectionRun.status.in_(UNFINISHED)
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        with self.session() as session:
            return bool(session.execute(query).rowcount)  # type: ignore[attr-defined]

    def renew_leases(self, run_ids: Collection[str], *, owner: str, until: datetime) -> None:
        """Extend the leases of the owner's unfinished runs to ``until``."""
        with self.session() as session:
            renew_owned(session, DetectionRun, run_ids, owner=owner, until=until)

    def fail_stale_runs(self, *, error: str, stale: Callable[[DetectionRun], bool]) -> list[str]:
        """Mark failed the queued or running runs ``stale`` finds abandoned; returns their ids.

        ``stale`` is asked once the runs are selected and locked: a run its caller starts meanwhile
        is known to it before its row can be seen.
        """
        with self.session() as session:
            # locked in one order: two processes failing stale runs at once never deadlock
            query = select(DetectionRun).where(DetectionRun.status.in_(UNFINISHED)).order_by(DetectionRun.id)
            runs = session.scalars(query.with_for_update()).all()
            failed = [run for run in runs if stale(run)]
            for run in failed:
                run.status = RunStatus.FAILED
                run.error = error
                run.finished_at = utcnow()
            return [run.id for run in failed]

    def add_unless_running(
        self, run: DetectionRun, *, record: Callable[[Session], None], join_from_batch: int | None
    ) -> str:
        """Add ``run`` (and ``record`` its audit row) in one transaction, unless ``join_from_batch`` is
        given and a run of another thread or process covers its period with the same model and no
        more events, is running under a live lease and reads every batch from ``join_from_batch``
        on: then that run's id, and nothing is added.

        Processes serialise here: SQLite's transactions take the write lock when they begin
        (``BEGIN IMMEDIATE``); on PostgreSQL a transaction-scoped advisory lock is held until commit.
        """
        with self.session() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK})
            if join_from_batch is not None:
                running = session.scalars(
                    select(DetectionRun.id)
                    .where(
                        DetectionRun.status == RunStatus.RUNNING,
                        DetectionRun.lease_until >= utcnow(),
                        DetectionRun.period_start <= run.period_start,
                        DetectionRun.period_end >= run.period_end,
                        DetectionRun.model_version == run.model_version,
                        DetectionRun.rules_version == run.rules_version,
                        DetectionRun.last_batch_id >= join_from_batch,
                        # no more events than ``run`` would score: never wait for a larger run
                        DetectionRun.n_events <= run.n_events,
                    )
                    .order_by(DetectionRun.created_at.desc())
                    .limit(1)
                ).first()
                if running is not None:
                    return running
            session.add(run)
            record(session)
            return run.id

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
