"""Review cases: the queue, locks and claims, opening them, and the decisions and labels they leave."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Row, and_, func, or_, select
from sqlalchemy.orm import Session

from serving.db.case_locks import CaseLocks
from serving.db.case_queue import SORTS, CaseQueue, CaseRecords, QueueRecords, ReviewerDay
from serving.db.database import as_utc
from serving.db.models import (
    Adjustment,
    Campaign,
    ReviewCase,
    ReviewCasePost,
    ReviewDecision,
    ReviewGroupLink,
    ReviewLabel,
    ReviewReopen,
    Settlement,
    SettlementPost,
)
from serving.statuses import CaseKind, CaseStatus

# re-exported: the review services, routes and tests import them from here
__all__ = ["SORTS", "CaseRecords", "CaseRepository", "QueueRecords", "ReviewerDay"]

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
)


class CaseRepository(CaseQueue, CaseLocks):
    """Queries of review cases, their decisions and labels: the queue (``serving.db.case_queue``),
    locks and claims (``serving.db.case_locks``), and here opening cases and recording decisions."""

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
