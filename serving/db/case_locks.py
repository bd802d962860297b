"""Who decides a review case: its lock to a reviewer, the claim that moves it to deciding, and the
cases stuck deciding or past their cutoff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, true, update
from sqlalchemy.orm import Session

from serving.db.database import Repository
from serving.db.models import ReviewCase
from serving.statuses import CaseStatus


class CaseLocks(Repository):
    """Locks and claims of review cases (part of ``serving.db.cases.CaseRepository``)."""

    def case_for_update(self, session: Session, case_id: str) -> ReviewCase | None:
        """One case, locked in the caller's transaction."""
        return session.get(ReviewCase, case_id, with_for_update=True)

    def acquire(
        self, session: Session, case_id: str, *, key_id: str, name: str, now: datetime, until: datetime
    ) -> bool:
        """Lock an open case to a key until ``until`` unless another holds a live lock; True if held."""
        result = session.execute(
            update(ReviewCase)
            .where(
                ReviewCase.id == case_id,
                ReviewCase.status == CaseStatus.OPEN,
                or_(
                    ReviewCase.assignee.is_(None),
                    ReviewCase.assignee == key_id,
                    ReviewCase.locked_until.is_(None),
                    ReviewCase.locked_until <= now,
                ),
            )
            .values(assignee=key_id, assignee_name=name, locked_until=until)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, session: Session, case_id: str, *, key_id: str) -> bool:
        """Unlock an open case this key holds; True if it did."""
        result = session.execute(
            update(ReviewCase)
            .where(
                ReviewCase.id == case_id,
                ReviewCase.assignee == key_id,
                ReviewCase.status == CaseStatus.OPEN,
            )
            .values(assignee=None, assignee_name=None, locked_until=None)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def claim(self, case_id: str, *, key_id: str, now: datetime, is_deadline: bool) -> bool:
        """Move an open case to ``deciding`` if this key may (the deadline always may); True if moved."""
        allowed: ColumnElement[bool] = (
            true()
            if is_deadline
            else or_(
                ReviewCase.assignee.is_(None),
                ReviewCase.assignee == key_id,
                ReviewCase.locked_until.is_(None),
                ReviewCase.locked_until <= now,
            )
        )
        with self.session() as session:
            result = session.execute(
                update(ReviewCase)
                .where(
                    ReviewCase.id == case_id,
                    ReviewCase.status == CaseStatus.OPEN,
                    allowed,
                )
                .values(status=CaseStatus.DECIDING, decided_at=now)  # while deciding: since when
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def reopen(self, case_id: str, *, stuck_before: datetime | None) -> bool:
        """Put a ``deciding`` case back to ``open`` (only if deciding since ``stuck_before``, if given)."""
        still: ColumnElement[bool] = true()
        if stuck_before is not None:
            still = or_(ReviewCase.decided_at.is_(None), ReviewCase.decided_at <= stuck_before)
        with self.session() as session:
            result = session.execute(
                update(ReviewCase)
                .where(ReviewCase.id == case_id, ReviewCase.status == CaseStatus.DECIDING, still)
                .values(status=CaseStatus.OPEN, decided_at=None)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def stuck(self, *, before: datetime, case_ids: list[str] | None) -> list[str]:
        """Ids of cases ``deciding`` since before ``before`` (of ``case_ids``, or all)."""
        query = select(ReviewCase.id).where(
            ReviewCase.status == CaseStatus.DECIDING,
            or_(ReviewCase.decided_at.is_(None), ReviewCase.decided_at <= before),
        )
        if case_ids is not None:
            query = query.where(ReviewCase.id.in_(case_ids))
        with self.session() as session:
            return list(session.scalars(query.order_by(ReviewCase.id)))

    def overdue(self, *, now: datetime) -> list[str]:
        """Ids of open cases whose settlement cutoff has passed."""
        with self.session() as session:
            query = select(ReviewCase.id).where(
                ReviewCase.status == CaseStatus.OPEN, ReviewCase.cutoff_at <= now
            )
            return list(session.scalars(query.order_by(ReviewCase.cutoff_at, ReviewCase.id)))
