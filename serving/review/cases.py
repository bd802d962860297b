"""Review cases: one per held post and per flagged engaging account of a settlement; queue, locks.

Cases are opened by ``serving.review.opening``; this module hands them out and locks them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from serving.auth import Principal, Role
from serving.db.cases import SORTS, ReviewerDay
from serving.db.database import as_utc
from serving.errors import Conflict, Invalid, NotFound, ServiceError
from serving.review.opening import CaseOpener
from serving.review.reversals import Reversal, planned_reversals, record_reversals
from serving.review.rows import CaseRow, case_rows
from serving.statuses import CaseKind, CaseStatus

LOCK_TTL = timedelta(minutes=30)

# a case ``deciding`` longer than this lost its decider (the process died mid-decision)
STUCK_AFTER = timedelta(minutes=5)
MAX_NOTE = 2000
QUEUE_LIMIT = 500
PAGE_SIZE = 50
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
    sort: str | None = None  # a column of ``SORTS``; None: review order
    descending: bool = False
    page: int = 1
    is_sample: bool | None = None  # True: only the label-quality sample


@dataclass(frozen=True)
class Facets:
    """The values the queue's filters offer."""

    campaigns: list[str]
    platforms: list[str]
    reasons: list[str]
    assignees: list[tuple[str, str]]


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue, and how many cases and how much money match its filters."""

    rows: list[CaseRow]
    total: int
    money: Decimal
    page: int
    pages: int


class CaseService(CaseOpener):
    """Creates cases from held settlement lines and flagged accounts; hands them out one at a time."""

    def queue(self, selection: QueueFilter, *, now: datetime) -> list[CaseRow]:
        """The first ``QUEUE_LIMIT`` cases of a selection, in its order."""
        return self.queue_page(selection, now=now, per_page=QUEUE_LIMIT).rows

    def queue_page(self, selection: QueueFilter, *, now: datetime, per_page: int = PAGE_SIZE) -> QueuePage:
        """A page of cases, ordered and counted in SQL: review order (awaiting sign-off first, then
        due within a day, then most money) or a column's; with the count and money of all that match."""
        statuses = {"open": (CaseStatus.OPEN, CaseStatus.DECIDING), "decided": (CaseStatus.DECIDED,)}
        page = max(selection.page, 1)
        found = self.stored_cases.queue(
            statuses=statuses.get(selection.status),
            kind=selection.kind if selection.kind in KINDS else None,
            campaign_id=selection.campaign_id,
            platform=selection.platform,
            reason=selection.reason,
            assignee=selection.assignee,
            is_sample=selection.is_sample,
            sort=selection.sort if selection.sort in SORTS else None,
            descending=selection.descending,
            now=now,
            offset=(page - 1) * per_page,
            limit=per_page,
        )
        return QueuePage(
            rows=case_rows(found.records, now=now),
            total=found.total,
            money=found.money,
            page=page,
            pages=max(1, -(-found.total // per_page)),
        )

    def next_case(self, selection: QueueFilter, *, user: Principal, now: datetime) -> str | None:
        """The first open case of a selection in review order that nobody else holds (None: none)."""
        open_only = replace(selection, status="open", sort=None, page=1)
        for page in range(1, 21):
            found = self.queue_page(replace(open_only, page=page), now=now)
            for row in found.rows:
                if row.status == CaseStatus.OPEN and not row.is_locked_by_other(user.key_id, now):
                    return row.case_id
            if page >= found.pages:
                break
        return None

    def throughput(self, *, now: datetime, days: int = 14) -> list[ReviewerDay]:
        """Cases and money decided per reviewer per day over the last ``days`` days."""
        return self.stored_cases.throughput(since=now - timedelta(days=days))

    def facets(self) -> Facets:
        """Campaigns, platforms, reasons and assignees present among the cases."""
        rows, named = self.stored_cases.facets()
        reasons = {r for row in rows for r in row.reasons.split(";") if r}
        return Facets(
            campaigns=sorted({r.campaign_id for r in rows}),
            platforms=sorted({r.platform for r in rows}),
            reasons=sorted(reasons),
            assignees=sorted({(str(a), str(n or a)) for a, n in named}),
        )

    def get(self, case_id: str, *, now: datetime) -> CaseRow:
        """One case (404 if unknown)."""
        records = self.stored_cases.case(case_id)
        if records is None:
            raise NotFound(f"no case {case_id!r}")
        return case_rows(records, now=now)[0]

    def acquire(self, case_id: str, *, user: Principal, now: datetime) -> bool:
        """Assign and lock an open case to ``user`` unless another reviewer holds it; True if held now."""
        with self.stored_cases.session() as session:
            is_held = self.stored_cases.acquire(
                session, case_id, key_id=user.key_id, name=user.name, now=now, until=now + LOCK_TTL
            )
            if is_held:
                self.audit_trail.record(
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
        with self.stored_cases.session() as session:
            if not self.stored_cases.release(session, case_id, key_id=user.key_id):
                raise Conflict(f"case {case_id} is not held by you")
            self.audit_trail.record(
                session, actor=user.key_id, role=user.role, action="review.unlock", target=f"case:{case_id}"
            )

    def claim(self, case_id: str, *, user: Principal, now: datetime, is_deadline: bool = False) -> CaseRow:
        """Move an open case to ``deciding`` (its holder, or the deadline); a clear 409 otherwise."""
        is_claimed = self.stored_cases.claim(case_id, key_id=user.key_id, now=now, is_deadline=is_deadline)
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
        return self.stored_cases.reopen(case_id, stuck_before=stuck_before)

    def stuck(self, *, now: datetime, case_ids: list[str] | None = None) -> list[str]:
        """Ids of cases ``deciding`` for longer than ``STUCK_AFTER`` (their decider died), of ``case_ids``."""
        return self.stored_cases.stuck(before=now - STUCK_AFTER, case_ids=case_ids)

    def take_over(self, case_id: str, *, user: Principal, note: str, now: datetime) -> CaseRow:
        """An admin takes an open case from whoever holds it (a note is required; audited)."""
        if user.role != Role.ADMIN:
            raise Forbidden("only an admin can take over a case another reviewer holds")
        note = checked_note(note)
        with self.stored_cases.session() as session:
            case = self.stored_cases.case_for_update(session, case_id)
            if case is None:
                raise NotFound(f"no case {case_id!r}")
            if case.status != CaseStatus.OPEN:
                raise Conflict(f"case {case_id} is {case.status}, not open: nothing to take over")
            previous = {
                "previous_assignee": case.assignee,
                "previous_locked_until": as_utc(case.locked_until) if case.locked_until else None,
            }
            case.assignee, case.assignee_name, case.locked_until = user.key_id, user.name, now + LOCK_TTL
            self.audit_trail.record(
                session,
                actor=user.key_id,
                role=user.role,
                action="review.take_over",
                target=f"case:{case_id}",
                detail={"settlement_id": case.settlement_id, **previous, "note": note},
            )
        return self.get(case_id, now=now)

    def reopen_effects(self, case_id: str, *, now: datetime) -> list[Reversal]:
        """What reopening a decided case does to the money it moved (``serving.review.reversals``)."""
        case = self.get(case_id, now=now)
        made = self.stored_cases.case_adjustments(case_id, with_post_key=True)
        return planned_reversals(made, cutoff_at=case.cutoff_at, now=now)

    def reopen_decision(self, case_id: str, *, user: Principal, note: str, now: datetime) -> str:
        """An admin reopens a decided case (a note is required; audited): its labels are superseded,
        each release it made is reversed by a counter-adjustment (a clawback item when the money
        was already paid out), and an open copy of the case takes its place; the copy's id."""
        if user.role != Role.ADMIN:
            raise Forbidden("only an admin can reopen a decision")
        note = checked_note(note)
        reversals = self.reopen_effects(case_id, now=now)
        decision = self.stored_cases.decision_of(case_id)
        already = self.stored_cases.reopened_as(case_id)
        if already is not None:
            raise Conflict(f"case {case_id} was already reopened as {already}")
        with self.stored_cases.session() as session:
            case = self.stored_cases.case_for_update(session, case_id)
            if case is None:
                raise NotFound(f"no case {case_id!r}")
            if case.status != CaseStatus.DECIDED or decision is None:
                raise Conflict(f"case {case_id} is {case.status}, not decided: nothing to reopen")
            reversal_ids = record_reversals(
                session,
                reversals,
                settlements=self.settlements,
                audit_trail=self.audit_trail,
                actor=user,
                why=f"decision {decision.id} of case {case_id} reopened: {note}",
            )
            fresh = self.stored_cases.reopen_decided(
                session, case, decision, actor=user.key_id, note=note, now=now
            )
            self.audit_trail.record(
                session,
                actor=user.key_id,
                role=user.role,
                action="review.reopen_decision",
                target=case.settlement_id,
                detail={
                    "case_id": case_id,
                    "new_case_id": fresh.id,
                    "decision_id": decision.id,
                    "superseded_action": str(decision.action),
                    "released": str(decision.released),
                    "reversal_ids": reversal_ids,
                    "clawback_items": sum(r.is_clawback_item for r in reversals),
                    "note": note,
                },
            )
            return fresh.id

    def overdue(self, *, now: datetime) -> list[str]:
        """Ids of open cases whose settlement cutoff has passed."""
        return self.stored_cases.overdue(now=now)


def checked_note(note: str) -> str:
    """The note stripped; a clear 422 when it is empty or too long."""
    note = note.strip()
    if not note:
        raise Invalid("note: a note is required")
    if len(note) > MAX_NOTE:
        raise Invalid(f"note: at most {MAX_NOTE} characters")
    return note
