"""Detection runs: their status and progress, and which finished run covers a period."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from serving.db.database import Repository, utcnow
from serving.db.models import DetectionRun
from serving.statuses import RunStatus


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

    def fail_unfinished_runs(self, *, error: str, keep: Collection[str] = ()) -> list[str]:
        """Mark every queued or running detection run failed but those in ``keep``; returns their ids."""
        with self.session() as session:
            query = select(DetectionRun).where(DetectionRun.status.in_((RunStatus.QUEUED, RunStatus.RUNNING)))
            if keep:
                query = query.where(DetectionRun.id.not_in(list(keep)))
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
