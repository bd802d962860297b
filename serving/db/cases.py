"""Review cases: the queue, locks and claims, opening them, and the decisions and labels they leave."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Row, and_, or_, select, true, update
from sqlalchemy.orm import Session

from serving.db.database import Repository, as_utc
from serving.db.models import (
    Adjustment,
    Campaign,
    ReviewCase,
    ReviewDecision,
    ReviewLabel,
    Settlement,
    SettlementPost,
    SettlementSignoff,
)
from serving.statuses import AdjustmentKind, CaseKind, CaseStatus


@dataclass(frozen=True)
class CaseRecords:
    """Stored cases with what their rows need beside them, read in one transaction."""

    cases: list[ReviewCase]
    # releases on the cases' settlements: (settlement_id, post_id, idempotency_key, amount)
    releases: list[Row[str, str, str | None, Decimal]]
    signoffs: dict[str, tuple[str, datetime]]  # settlement_id -> (actor, when)


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
    ) -> CaseRecords:
        """Up to ``limit`` cases matching every filter given (None or empty: any)."""
        query = select(ReviewCase)
        if statuses is not None:
            query = query.where(ReviewCase.status.in_(statuses))
        if kind is not None:
            query = query.where(ReviewCase.kind == kind)
        if campaign_id:
            query = query.where(ReviewCase.campaign_id == campaign_id)
        if platform:
            query = query.where(ReviewCase.platform == platform)
        if reason:
            query = query.where(ReviewCase.reasons.contains(f";{reason};"))
        if assignee:
            query = query.where(ReviewCase.assignee == assignee)
        with self.session() as session:
            return _records(session, list(session.scalars(query.limit(limit))))

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

    def account_case_candidates(self) -> tuple[list[Row[Settlement, Campaign]], set[str]]:
        """Settlements made with a detection run (with their campaign), and those with account cases."""
        with self.session() as session:
            pending = session.execute(
                select(Settlement, Campaign)
                .join(Campaign, Campaign.campaign_id == Settlement.campaign_id)
                .where(Settlement.run_id.is_not(None))
            ).all()
            scanned = set(
                session.scalars(
                    select(ReviewCase.settlement_id).where(ReviewCase.kind == CaseKind.ACCOUNT).distinct()
                )
            )
        return list(pending), scanned

    def add_cases(self, cases: Iterable[ReviewCase]) -> None:
        """Store new cases in one transaction (an IntegrityError if another process opened one)."""
        with self.session() as session:
            for case in cases:
                session.add(case)

    def case_adjustments(self, case_id: str) -> list[Adjustment]:
        """The releases an account case made (under ``review:<case id>:<post id>``), oldest first."""
        with self.session() as session:
            query = (
                select(Adjustment)
                .where(Adjustment.idempotency_key.startswith(f"review:{case_id}:", autoescape=True))
                .order_by(Adjustment.created_at, Adjustment.id)
            )
            return list(session.scalars(query))

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
    ) -> list[Row[str, int, datetime, str, str, str, str]]:
        """Labels decided in ``[start, end)`` (either bound optional), oldest first.

        Columns: account_id, label, decided_at, post_id, campaign_id, settlement_id, source.
        """
        query = select(
            ReviewLabel.account_id,
            ReviewLabel.label,
            ReviewLabel.decided_at,
            ReviewLabel.post_id,
            ReviewLabel.campaign_id,
            ReviewLabel.settlement_id,
            ReviewLabel.source,
        ).order_by(ReviewLabel.decided_at, ReviewLabel.id)
        if start is not None:
            query = query.where(ReviewLabel.decided_at >= as_utc(start))
        if end is not None:
            query = query.where(ReviewLabel.decided_at < as_utc(end))
        with self.session() as session:
            return list(session.execute(query).all())


def _records(session: Session, cases: list[ReviewCase]) -> CaseRecords:
    settlement_ids = sorted({c.settlement_id for c in cases})
    if not settlement_ids:
        return CaseRecords(cases=cases, releases=[], signoffs={})
    releases = select(
        Adjustment.settlement_id, Adjustment.post_id, Adjustment.idempotency_key, Adjustment.amount
    ).where(Adjustment.settlement_id.in_(settlement_ids), Adjustment.kind == AdjustmentKind.RELEASE)
    signoffs = select(
        SettlementSignoff.settlement_id, SettlementSignoff.actor, SettlementSignoff.created_at
    ).where(SettlementSignoff.settlement_id.in_(settlement_ids))
    return CaseRecords(
        cases=cases,
        releases=list(session.execute(releases).all()),
        signoffs={s: (actor, as_utc(at)) for s, actor, at in session.execute(signoffs).all()},
    )
