"""The review queue's reads: pages of cases with their records, saved views, facets and throughput."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, and_, func, select
from sqlalchemy import case as when
from sqlalchemy.orm import Session

from serving.db.database import Repository, as_utc, utcnow
from serving.db.models import (
    Adjustment,
    ApiKey,
    ReviewCase,
    ReviewCasePost,
    ReviewDecision,
    ReviewView,
    SettlementSignoff,
)
from serving.statuses import AdjustmentKind, CaseStatus, ReviewAction


class ReviewerDay(NamedTuple):
    """One reviewer's decisions of one day."""

    actor: str
    name: str
    day: str
    cases: int
    released: Decimal


@dataclass(frozen=True)
class CaseRecords:
    """Stored cases with what their rows need beside them, read in one transaction."""

    cases: list[ReviewCase]
    # releases on the cases' settlements: (settlement_id, post_id, idempotency_key, amount, kind)
    releases: list[Row[str, str, str | None, Decimal, AdjustmentKind]]
    signoffs: dict[str, tuple[str, datetime]]  # settlement_id -> (actor, when)
    # the cases' money per post (``serving.review.case_money``), by case id; none for older cases
    parts: dict[str, list[ReviewCasePost]] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueRecords:
    """A page of the queue, and the count and money of every case matching its filters."""

    records: CaseRecords
    total: int
    money: Decimal  # the matching cases' money when opened (withheld or held), each post's once


# the queue's sortable columns, by the name its links use
SORTS: dict[str, Any] = {
    "kind": ReviewCase.kind,
    "subject": ReviewCase.post_id,
    "campaign": ReviewCase.campaign_id,
    "platform": ReviewCase.platform,
    "reasons": ReviewCase.reasons,
    "money": ReviewCase.held_amount,
    "cutoff": ReviewCase.cutoff_at,
    "assignee": ReviewCase.assignee_name,
    "status": ReviewCase.status,
}
# a case whose cutoff is this close comes first
URGENT = timedelta(hours=24)


class CaseQueue(Repository):
    """Queries of the review queue (part of ``serving.db.cases.CaseRepository``)."""

    def queue(
        self,
        *,
        statuses: tuple[CaseStatus, ...] | None,
        kind: str | None,
        campaign_id: str | None,
        platform: str | None,
        reason: str | None,
        assignee: str | None,
        limit: int,
        offset: int = 0,
        sort: str | None = None,
        descending: bool = False,
        now: datetime | None = None,
        is_sample: bool | None = None,
    ) -> QueueRecords:
        """A page of cases matching every filter given (None or empty: any), ordered in SQL.

        ``sort`` one of ``SORTS`` (then the case id); None: review order, which is settlements
        awaiting sign-off first, then cutoff within a day of ``now``, then most money, earliest cutoff.
        Also the count and money of every matching case.
        """
        where: list[ColumnElement[bool]] = []
        if statuses is not None:
            where.append(ReviewCase.status.in_(statuses))
        for column, value in (
            (ReviewCase.kind, kind),
            (ReviewCase.campaign_id, campaign_id),
            (ReviewCase.platform, platform),
            (ReviewCase.assignee, assignee),
        ):
            if value:
                where.append(column == value)
        if reason:
            where.append(ReviewCase.reasons.contains(f";{reason};", autoescape=True))
        if is_sample is not None:
            where.append(ReviewCase.is_sample.is_(is_sample))
        order = _order(sort, descending=descending, now=now)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(ReviewCase).where(*where))
            money = _money_once(session, where)
            query = select(ReviewCase).where(*where).order_by(*order).offset(offset).limit(limit)
            records = _records(session, list(session.scalars(query)))
        return QueueRecords(records=records, total=int(total or 0), money=money)

    def save_view(self, *, key_id: str, name: str, query: str, now: datetime) -> str:
        """Save a reviewer's queue view under a name (the same name again: its query replaced); its id."""
        with self.session() as session:
            found = session.scalars(
                select(ReviewView).where(ReviewView.key_id == key_id, ReviewView.name == name)
            ).first()
            if found is not None:
                found.query = query
                return found.id
            view = ReviewView(
                id=f"view_{uuid.uuid4().hex[:20]}", key_id=key_id, name=name, query=query, created_at=now
            )
            session.add(view)
            return view.id

    def views_of(self, key_id: str) -> list[Row[str, str, str]]:
        """A reviewer's saved views by name: id, name, query."""
        with self.session() as session:
            query = (
                select(ReviewView.id, ReviewView.name, ReviewView.query)
                .where(ReviewView.key_id == key_id)
                .order_by(ReviewView.name)
            )
            return list(session.execute(query).all())

    def delete_view(self, *, key_id: str, view_id: str) -> bool:
        """Delete one of a reviewer's views (only its owner can); True if deleted."""
        with self.session() as session:
            view = session.get(ReviewView, view_id)
            if view is None or view.key_id != key_id:
                return False
            session.delete(view)
            return True

    def throughput(self, *, since: datetime) -> list[ReviewerDay]:
        """Decisions by reviewers since ``since`` per reviewer and day: actor, name, day, cases, released.

        Policy and deadline decisions are left out (no reviewer made them). Newest day first.
        """
        day = func.date(ReviewDecision.decided_at)
        query = (
            select(
                ReviewDecision.actor,
                func.coalesce(func.max(ApiKey.name), ReviewDecision.actor),
                day,
                func.count(),
                func.coalesce(func.sum(ReviewDecision.released), 0),
            )
            .outerjoin(ApiKey, ApiKey.id == ReviewDecision.actor)
            .where(
                ReviewDecision.decided_at >= since,
                ReviewDecision.action.not_in((ReviewAction.DEADLINE_DEFAULT, ReviewAction.POLICY_DEFAULT)),
            )
            .group_by(ReviewDecision.actor, day)
            .order_by(day.desc(), ReviewDecision.actor)
        )
        with self.session() as session:
            return [
                ReviewerDay(actor, name, str(d), int(n), Decimal(str(released)))
                for actor, name, d, n, released in session.execute(query).all()
            ]

    def facets(self) -> tuple[list[Row[str, str, str, str | None]], list[Row[str | None, str | None]]]:
        """Distinct (campaign_id, platform, reasons, assignee) of the cases, and (assignee, name) pairs."""
        with self.session() as session:
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
        return list(rows), list(named)

    def case(self, case_id: str) -> CaseRecords | None:
        """One case with its records (None if unknown)."""
        with self.session() as session:
            case = session.get(ReviewCase, case_id)
            if case is None:
                return None
            return _records(session, [case])

    def cases(self, case_ids: Sequence[str]) -> CaseRecords:
        """Several cases with their records, in the order of ``case_ids`` (unknown ids left out)."""
        with self.session() as session:
            query = select(ReviewCase).where(ReviewCase.id.in_(list(case_ids)))
            found = {c.id: c for c in session.scalars(query)}
            return _records(session, [found[i] for i in case_ids if i in found])


def _order(sort: str | None, *, descending: bool, now: datetime | None) -> list[Any]:
    """The ORDER BY of a queue page: a column of ``SORTS`` then the id, or the review order."""
    if sort in SORTS:
        column = SORTS[sort]
        return [column.desc() if descending else column.asc(), ReviewCase.id]
    signed = select(SettlementSignoff.id).where(SettlementSignoff.settlement_id == ReviewCase.settlement_id)
    awaits = when((and_(ReviewCase.needs_signoff, ~signed.exists()), 0), else_=1)
    soon = (now or utcnow()) + URGENT
    urgent = when((ReviewCase.cutoff_at < soon, 0), else_=1)
    return [awaits, urgent, ReviewCase.held_amount.desc(), ReviewCase.cutoff_at, ReviewCase.id]


def _records(session: Session, cases: list[ReviewCase]) -> CaseRecords:
    settlement_ids = sorted({c.settlement_id for c in cases})
    if not settlement_ids:
        return CaseRecords(cases=cases, releases=[], signoffs={})
    releases = select(
        Adjustment.settlement_id,
        Adjustment.post_id,
        Adjustment.idempotency_key,
        Adjustment.amount,
        Adjustment.kind,
    ).where(
        Adjustment.settlement_id.in_(settlement_ids),
        Adjustment.kind.in_((AdjustmentKind.RELEASE, AdjustmentKind.RELEASE_WITHHELD)),
    )
    signoffs = select(
        SettlementSignoff.settlement_id, SettlementSignoff.actor, SettlementSignoff.created_at
    ).where(SettlementSignoff.settlement_id.in_(settlement_ids))
    parts: dict[str, list[ReviewCasePost]] = {}
    query = select(ReviewCasePost).where(ReviewCasePost.case_id.in_([c.id for c in cases]))
    for part in session.scalars(query):
        parts.setdefault(part.case_id, []).append(part)
    return CaseRecords(
        cases=cases,
        releases=list(session.execute(releases).all()),
        signoffs={s: (actor, as_utc(at)) for s, actor, at in session.execute(signoffs).all()},
        parts=parts,
    )


def _money_once(session: Session, where: list[ColumnElement[bool]]) -> Decimal:
    """The money of the cases matching ``where`` when opened, each post's once: per post the largest
    of its case kinds' sums (one kind's cases share no engagement), at most what its line kept; cases
    without money per post (opened before it was recorded) add their own money."""
    part = ReviewCasePost
    per_kind = (
        select(
            part.settlement_id,
            part.post_id,
            func.sum(part.held + part.withheld).label("money"),
            func.max(part.line_held + part.line_withheld).label("line"),
        )
        .join(ReviewCase, ReviewCase.id == part.case_id)
        .where(*where)
        .group_by(part.settlement_id, part.post_id, part.kind)
        .subquery()
    )
    per_post = (
        select(func.max(per_kind.c.money).label("money"), func.max(per_kind.c.line).label("line"))
        .group_by(per_kind.c.settlement_id, per_kind.c.post_id)
        .subquery()
    )
    once = session.scalar(
        select(
            func.coalesce(
                func.sum(when((per_post.c.money < per_post.c.line, per_post.c.money), else_=per_post.c.line)),
                0,
            )
        )
    )
    unmapped = session.scalar(
        select(func.coalesce(func.sum(ReviewCase.held_amount), 0)).where(
            *where, ~select(part.case_id).where(part.case_id == ReviewCase.id).exists()
        )
    )
    return (Decimal(str(once)) + Decimal(str(unmapped))).quantize(Decimal("0.01"))
