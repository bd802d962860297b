"""Review cases: one per held post and per flagged engaging account of a settlement; queue, locks.

Cases are opened by ``serving.review.opening``; this module hands them out and locks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, or_, select, true, update

from serving.auth import Principal, Role
from serving.db.models import ReviewCase
from serving.db.repository import as_utc
from serving.errors import Conflict, Invalid, NotFound, ServiceError
from serving.review.opening import CaseOpener
from serving.review.rows import CaseRow, case_rows
from serving.statuses import CaseKind, CaseStatus

LOCK_TTL = timedelta(minutes=30)
URGENT = timedelta(hours=24)
# a case ``deciding`` longer than this lost its decider (the process died mid-decision)
STUCK_AFTER = timedelta(minutes=5)
MAX_NOTE = 2000
QUEUE_LIMIT = 500
_ZERO = Decimal("0.00")
KINDS = tuple(CaseKind)


class Forbidden(ServiceError):
    """The signed-in role may not do this."""

    status_code = 403


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows: status open, decided or all; kind (post, account), campaign, etc.."""

    status: str = "open"
    kind: str | None = None
    campaign_id: str | None = None
    platform: str | None = None
    reason: str | None = None
    assignee: str | None = None


@dataclass(frozen=True)
class Facets:
    """The values the queue's filters offer."""

    campaigns: list[str]
    platforms: list[str]
    reasons: list[str]
    assignees: list[tuple[str, str]]


class CaseService(CaseOpener):
    """Creates cases from held settlement lines and flagged accounts; hands them out one at a time."""

    def queue(self, selection: QueueFilter, *, now: datetime) -> list[CaseRow]:
        """Cases in review order: awaiting sign-off first, then due within a day, then money at stake."""
        query = select(ReviewCase)
        if selection.status in ("open", "decided"):
            wanted = (
                (CaseStatus.OPEN, CaseStatus.DECIDING)
                if selection.status == "open"
                else (CaseStatus.DECIDED,)
            )
            query = query.where(ReviewCase.status.in_(wanted))
        if selection.kind in KINDS:
            query = query.where(ReviewCase.kind == selection.kind)
        if selection.campaign_id:
            query = query.where(ReviewCase.campaign_id == selection.campaign_id)
        if selection.platform:
            query = query.where(ReviewCase.platform == selection.platform)
        if selection.reason:
            query = query.where(ReviewCase.reasons.contains(f";{selection.reason};"))
        if selection.assignee:
            query = query.where(ReviewCase.assignee == selection.assignee)
        with self.repository.session() as session:
            rows = case_rows(session, list(session.scalars(query.limit(QUEUE_LIMIT * 4))), now=now)
        rows.sort(key=lambda r: (not r.awaits_signoff, r.time_left >= URGENT, -r.at_stake, r.cutoff_at))
        return rows[:QUEUE_LIMIT]

    def facets(self) -> Facets:
        """Campaigns, platforms, reasons and assignees present among the cases."""
        with self.repository.session() as session:
            rows = session.execute(
                select(
                    ReviewCase.campaign_id, ReviewCase.platform, ReviewCase.reasons, ReviewCase.assignee
                ).distinct()
            ).all()
            named = session.execute(
                select(ReviewCase.assignee, ReviewCase.assignee_name)
                .where(ReviewCase.assignee.is_not(None))
                .distinct()
            ).all()
        reasons = {r for row in rows for r in row.reasons.split(";") if r}
        return Facets(
            campaigns=sorted({r.campaign_id for r in rows}),
            platforms=sorted({r.platform for r in rows}),
            reasons=sorted(reasons),
            assignees=sorted({(str(a), str(n or a)) for a, n in named}),
        )

    def get(self, case_id: str, *, now: datetime) -> CaseRow:
        """One case (404 if unknown)."""
        with self.repository.session() as session:
            case = session.get(ReviewCase, case_id)
            if case is None:
                raise NotFound(f"no case {case_id!r}")
            return case_rows(session, [case], now=now)[0]

    def acquire(self, case_id: str, *, user: Principal, now: datetime) -> bool:
        """Assign and lock an open case to ``user`` unless another reviewer holds it; True if held now."""
        with self.repository.session() as session:
            result = session.execute(
                update(ReviewCase)
                .where(
                    ReviewCase.id == case_id,
                    ReviewCase.status == CaseStatus.OPEN,
                    or_(
                        ReviewCase.assignee.is_(None),
                        ReviewCase.assignee == user.key_id,
                        ReviewCase.locked_until.is_(None),
                        ReviewCase.locked_until <= now,
                    ),
                )
                .values(assignee=user.key_id, assignee_name=user.name, locked_until=now + LOCK_TTL)
                .execution_options(synchronize_session=False)
            )
            is_held = bool(result.rowcount)  # type: ignore[attr-defined]
            if is_held:
                self.repository.audit(
                    session,
                    actor=user.key_id,
                    role=user.role,
                    action="review.lock",
                    target=f"case:{case_id}",
                    detail={"locked_until": now + LOCK_TTL},
                )
        return is_held

    def release(self, case_id: str, *, user: Principal) -> None:
        """Give a held case back to the queue (only its holder can)."""
        with self.repository.session() as session:
            result = session.execute(
                update(ReviewCase)
                .where(
                    ReviewCase.id == case_id,
                    ReviewCase.assignee == user.key_id,
                    ReviewCase.status == CaseStatus.OPEN,
                )
                .values(assignee=None, assignee_name=None, locked_until=None)
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise Conflict(f"case {case_id} is not held by you")
            self.repository.audit(
                session, actor=user.key_id, role=user.role, action="review.unlock", target=f"case:{case_id}"
            )

    def claim(self, case_id: str, *, user: Principal, now: datetime, is_deadline: bool = False) -> CaseRow:
        """Move an open case to ``deciding`` (its holder, or the deadline); a clear 409 otherwise."""
        allowed: ColumnElement[bool] = (
            true()
            if is_deadline
            else or_(
                ReviewCase.assignee.is_(None),
                ReviewCase.assignee == user.key_id,
                ReviewCase.locked_until.is_(None),
                ReviewCase.locked_until <= now,
            )
        )
        with self.repository.session() as session:
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
            is_claimed = bool(result.rowcount)  # type: ignore[attr-defined]
        case = self.get(case_id, now=now)
        if is_claimed:
            return case
        if case.status == CaseStatus.DECIDED:
            raise Conflict(f"case {case_id} is already decided")
        if case.status == CaseStatus.DECIDING:
            raise Conflict(f"case {case_id} is being decided right now")
        raise Conflict(
            f"case {case_id} is held by {case.assignee_name or case.assignee}; you cannot act on it"
        )

    def reopen(self, case_id: str, *, stuck_before: datetime | None = None) -> bool:
        """Put a claimed case back to ``open`` after its decision failed (nothing was recorded).

        With ``stuck_before``, only if it has been deciding since before then; True if reopened.
        """
        still: ColumnElement[bool] = true()
        if stuck_before is not None:
            still = or_(ReviewCase.decided_at.is_(None), ReviewCase.decided_at <= stuck_before)
        with self.repository.session() as session:
            result = session.execute(
                update(ReviewCase)
                .where(ReviewCase.id == case_id, ReviewCase.status == CaseStatus.DECIDING, still)
                .values(status=CaseStatus.OPEN, decided_at=None)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def stuck(self, *, now: datetime, case_ids: list[str] | None = None) -> list[str]:
        """Ids of cases ``deciding`` for longer than ``STUCK_AFTER`` (their decider died), of ``case_ids``."""
        query = select(ReviewCase.id).where(
            ReviewCase.status == CaseStatus.DECIDING,
            or_(ReviewCase.decided_at.is_(None), ReviewCase.decided_at <= now - STUCK_AFTER),
        )
        if case_ids is not None:
            query = query.where(ReviewCase.id.in_(case_ids))
        with self.repository.session() as session:
            return list(session.scalars(query.order_by(ReviewCase.id)))

    def take_over(self, case_id: str, *, user: Principal, note: str, now: datetime) -> CaseRow:
        """An admin takes an open case from whoever holds it (a note is required; audited)."""
        if user.role != Role.ADMIN:
            raise Forbidden("only an admin can take over a case another reviewer holds")
        note = checked_note(note)
        with self.repository.session() as session:
            case = session.get(ReviewCase, case_id, with_for_update=True)
            if case is None:
                raise NotFound(f"no case {case_id!r}")
            if case.status != CaseStatus.OPEN:
                raise Conflict(f"case {case_id} is {case.status}, not open: nothing to take over")
            previous = {
                "previous_assignee": case.assignee,
                "previous_locked_until": as_utc(case.locked_until) if case.locked_until else None,
            }
            case.assignee, case.assignee_name, case.locked_until = user.key_id, user.name, now + LOCK_TTL
            self.repository.audit(
                session,
                actor=user.key_id,
                role=user.role,
                action="review.take_over",
                target=f"case:{case_id}",
                detail={"settlement_id": case.settlement_id, **previous, "note": note},
            )
        return self.get(case_id, now=now)

    def overdue(self, *, now: datetime) -> list[str]:
        """Ids of open cases whose settlement cutoff has passed."""
        with self.repository.session() as session:
            query = select(ReviewCase.id).where(
                ReviewCase.status == CaseStatus.OPEN, ReviewCase.cutoff_at <= now
            )
            return list(session.scalars(query.order_by(ReviewCase.cutoff_at, ReviewCase.id)))


def checked_note(note: str) -> str:
    """The note stripped; a clear 422 when it is empty or too long."""
    note = note.strip()
    if not note:
        raise Invalid("note: a note is required")
    if len(note) > MAX_NOTE:
        raise Invalid(f"note: at most {MAX_NOTE} characters")
    return note
