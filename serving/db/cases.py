"""Review cases: the queue, locks and claims, opening them, and the decisions and labels they leave."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, and_, func, or_, select, true, update
from sqlalchemy import case as when
from sqlalchemy.orm import Session

from serving.db.database import Repository, as_utc, utcnow
from serving.db.models import (
    Adjustment,
    ApiKey,
    Campaign,
    ReviewCase,
    ReviewCasePost,
    ReviewDecision,
    ReviewGroupLink,
    ReviewLabel,
    ReviewReopen,
    ReviewView,
    Settlement,
    SettlementPost,
    SettlementSignoff,
)
from serving.statuses import AdjustmentKind, CaseKind, CaseStatus, ReviewAction


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
URGENT = timedelta(hours=24)
# what a reopened case's open copy keeps of it
_COPIED = (
    "settlement_id",
    "post_id",
    "kind",
    "account_id",
    "campaign_id",
    "platform",
    "creator_id",
    "held_amount",
    "reasons",
    "needs_signoff",
    "cutoff_at",
    "is_sample",
    "sample",
    "sampled_with_probability",
)  # a case whose cutoff is this close comes first


class CaseRepository(Repository):
    """Queries of review cases, their decisions and labels."""

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

    def linked(
        self, settlement_ids: Sequence[str] | None, post_ids: Sequence[str]
    ) -> list[Row[str, str, str, str]]:
        """Cases of these settlements (None: any) stored under these post ids (an account's:
        ``account:<id>``). Columns: id, settlement_id, post_id, status."""
        if settlement_ids == [] or not post_ids:
            return []
        with self.session() as session:
            query = (
                select(ReviewCase.id, ReviewCase.settlement_id, ReviewCase.post_id, ReviewCase.status)
                .where(ReviewCase.post_id.in_(list(post_ids)))
                .order_by(ReviewCase.settlement_id, ReviewCase.post_id)
            )
            if settlement_ids is not None:
                query = query.where(ReviewCase.settlement_id.in_(list(settlement_ids)))
            return list(session.execute(query).all())

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

    def missing_post_cases(self) -> list[Row[SettlementPost, Settlement, Campaign]]:
        """Held settlement lines without a case, with their settlement and campaign."""
        with self.session() as session:
            return list(
                session.execute(
                    select(SettlementPost, Settlement, Campaign)
                    .join(Settlement, Settlement.id == SettlementPost.settlement_id)
                    .join(Campaign, Campaign.campaign_id == Settlement.campaign_id)
                    .outerjoin(
                        ReviewCase,
                        and_(
                            ReviewCase.settlement_id == SettlementPost.settlement_id,
                            ReviewCase.post_id == SettlementPost.post_id,
                        ),
                    )
                    .where(SettlementPost.held_amount > 0, ReviewCase.id.is_(None))
                ).all()
            )

    def account_case_candidates(self) -> tuple[list[Row[Settlement, Campaign]], dict[str, set[str]]]:
        """Settlements made with a detection run (with their campaign), and the kinds of cases beyond
        held posts each already has."""
        with self.session() as session:
            pending = session.execute(
                select(Settlement, Campaign)
                .join(Campaign, Campaign.campaign_id == Settlement.campaign_id)
                .where(Settlement.run_id.is_not(None))
            ).all()
            kinds: dict[str, set[str]] = {}
            for settlement_id, kind in session.execute(
                select(ReviewCase.settlement_id, ReviewCase.kind)
                .where(ReviewCase.kind != CaseKind.POST)
                .distinct()
            ):
                kinds.setdefault(settlement_id, set()).add(str(kind))
        return list(pending), kinds

    def add_cases(
        self,
        cases: Iterable[ReviewCase],
        *,
        decisions: Sequence[ReviewDecision] = (),
        beside: Sequence[ReviewCasePost | ReviewGroupLink] = (),
    ) -> None:
        """Store new cases, decisions made as they open, and their money per post and group links
        (``beside``), in one transaction (an IntegrityError if another process opened one)."""
        with self.session() as session:
            for case in cases:
                session.add(case)
            session.flush()
            for row in [*decisions, *beside]:
                session.add(row)

    def add_beside(self, rows: Sequence[ReviewCasePost | ReviewGroupLink]) -> None:
        """Store money per post or group links of cases already stored (a backfill)."""
        with self.session() as session:
            for row in rows:
                session.add(row)

    def cases_without_money(self) -> list[ReviewCase]:
        """Cases without their money per post (opened before it was recorded), but reopened ones."""
        with self.session() as session:
            query = select(ReviewCase).where(
                ~select(ReviewCasePost.case_id).where(ReviewCasePost.case_id == ReviewCase.id).exists(),
                ~ReviewCase.post_id.startswith("reopened:"),
            )
            return list(session.scalars(query.order_by(ReviewCase.settlement_id, ReviewCase.id)))

    def group_links(self) -> list[Row[str, str, str]]:
        """Every group case's link: case_id, group_id, members (';'-joined)."""
        with self.session() as session:
            return list(
                session.execute(
                    select(ReviewGroupLink.case_id, ReviewGroupLink.group_id, ReviewGroupLink.members)
                ).all()
            )

    def group_cases(self, group_id: str) -> list[tuple[ReviewCase, str]]:
        """The cases of one seller group across settlements with their members, oldest settlement first."""
        with self.session() as session:
            rows = session.execute(
                select(ReviewCase, ReviewGroupLink.members)
                .join(ReviewGroupLink, ReviewGroupLink.case_id == ReviewCase.id)
                .where(ReviewGroupLink.group_id == group_id)
                .order_by(ReviewCase.created_at, ReviewCase.id)
            ).all()
            return [(case, members) for case, members in rows]

    def group_of_case(self, case_id: str) -> str | None:
        """The seller group a group case belongs to (None: not linked)."""
        with self.session() as session:
            return session.scalar(select(ReviewGroupLink.group_id).where(ReviewGroupLink.case_id == case_id))

    def account_cases(self, account_id: str, member_mark: str) -> list[Row[str, str, str, str, str]]:
        """Every case about an account: its account cases and the group cases it is a member of.

        Columns: id, kind, settlement_id, campaign_id, status (``member_mark``: the account id as the
        links' ';'-joined members spell it)."""
        with self.session() as session:
            query = (
                select(
                    ReviewCase.id,
                    ReviewCase.kind,
                    ReviewCase.settlement_id,
                    ReviewCase.campaign_id,
                    ReviewCase.status,
                )
                .outerjoin(ReviewGroupLink, ReviewGroupLink.case_id == ReviewCase.id)
                .where(
                    or_(
                        ReviewCase.account_id == account_id,
                        (";" + ReviewGroupLink.members + ";").contains(member_mark, autoescape=True),
                    )
                )
                .order_by(ReviewCase.created_at, ReviewCase.id)
            )
            return list(session.execute(query).all())

    def case_adjustments(self, case_id: str, *, with_post_key: bool = False) -> list[Adjustment]:
        """The releases an account case made (under ``review:<case id>:<post id>``), oldest first;
        ``with_post_key``: a post case's too (under ``review:<case id>``)."""
        mine = Adjustment.idempotency_key.startswith(f"review:{case_id}:", autoescape=True)
        if with_post_key:
            mine = or_(mine, Adjustment.idempotency_key == f"review:{case_id}")
        with self.session() as session:
            query = select(Adjustment).where(mine).order_by(Adjustment.created_at, Adjustment.id)
            return list(session.scalars(query))

    def reopen_decided(
        self,
        session: Session,
        case: ReviewCase,
        decision: ReviewDecision,
        *,
        actor: str,
        note: str,
        now: datetime,
    ) -> ReviewCase:
        """Reopen a decided case in the caller's transaction: the decided one is renamed aside, an open
        copy takes its place, and the reopen (superseding the decision's labels) is appended."""
        n = session.scalar(
            select(func.count()).select_from(ReviewReopen).where(ReviewReopen.case_id == case.id)
        )
        fresh = ReviewCase(
            id=f"case_{uuid.uuid4().hex[:20]}",
            **{c: getattr(case, c) for c in _COPIED},
            status=CaseStatus.OPEN,
            created_at=now,
        )
        case.post_id = f"reopened:{int(n or 0) + 1}:{case.id}:{case.post_id}"[:200]
        case.account_id = None
        session.flush()
        session.add(fresh)
        session.flush()
        _copy_beside(session, case.id, fresh.id)
        session.add(
            ReviewReopen(
                id=f"reo_{uuid.uuid4().hex}",
                decision_id=decision.id,
                case_id=case.id,
                new_case_id=fresh.id,
                actor=actor,
                note=note,
                created_at=now,
            )
        )
        return fresh

    def reopened_as(self, case_id: str) -> str | None:
        """The open case that replaced a reopened one (None if it was not reopened)."""
        with self.session() as session:
            return session.scalar(select(ReviewReopen.new_case_id).where(ReviewReopen.case_id == case_id))

    def decision_of(self, case_id: str) -> ReviewDecision | None:
        """The decision recorded on a case (None while open)."""
        with self.session() as session:
            return session.scalars(select(ReviewDecision).where(ReviewDecision.case_id == case_id)).first()

    def add_decision(self, session: Session, decision: ReviewDecision, labels: Sequence[ReviewLabel]) -> None:
        """Store a decision and its labels and mark its case decided, in the caller's transaction."""
        session.add(decision)
        session.flush()
        for label in labels:
            session.add(label)
        row = session.get(ReviewCase, decision.case_id)
        assert row is not None
        row.status = CaseStatus.DECIDED
        row.decided_at = decision.decided_at
        row.locked_until = None

    def labels(
        self, *, start: datetime | None, end: datetime | None
    ) -> list[Row[str, int, datetime, str, str, str, str, bool, str | None, float | None]]:
        """Labels decided in ``[start, end)`` (either bound optional), oldest first.

        Columns: account_id, label, decided_at, post_id, campaign_id, settlement_id, source,
        is_sample (the case was queued as a label-quality sample of what policy decides), and the
        case's ``sample`` kind and ``sampled_with_probability`` (None where not recorded).
        """
        query = (
            select(
                ReviewLabel.account_id,
                ReviewLabel.label,
                ReviewLabel.decided_at,
                ReviewLabel.post_id,
                ReviewLabel.campaign_id,
                ReviewLabel.settlement_id,
                ReviewLabel.source,
                func.coalesce(ReviewCase.is_sample, False),
                ReviewCase.sample,
                ReviewCase.sampled_with_probability,
            )
            .outerjoin(ReviewDecision, ReviewDecision.id == ReviewLabel.decision_id)
            .outerjoin(ReviewCase, ReviewCase.id == ReviewDecision.case_id)
            .order_by(ReviewLabel.decided_at, ReviewLabel.id)
        )
        superseded = select(ReviewReopen.decision_id).where(
            ReviewReopen.decision_id == ReviewLabel.decision_id
        )
        query = query.where(~superseded.exists())
        if start is not None:
            query = query.where(ReviewLabel.decided_at >= as_utc(start))
        if end is not None:
            query = query.where(ReviewLabel.decided_at < as_utc(end))
        with self.session() as session:
            return list(session.execute(query).all())


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


def _copy_beside(session: Session, old_id: str, new_id: str) -> None:
    """Give a reopened case's open copy the old one's money per post and group link."""
    for part in session.scalars(select(ReviewCasePost).where(ReviewCasePost.case_id == old_id)).all():
        session.add(
            ReviewCasePost(
                case_id=new_id,
                **{c: getattr(part, c) for c in ("post_id", "settlement_id", "kind", "held", "withheld")},
                line_held=part.line_held,
                line_withheld=part.line_withheld,
            )
        )
    link = session.get(ReviewGroupLink, old_id)
    if link is not None:
        session.add(
            ReviewGroupLink(
                case_id=new_id, group_id=link.group_id, members=link.members, created_at=link.created_at
            )
        )
