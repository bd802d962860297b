"""Queries of the brands' disputes of creators' money, and of the creator cases they mark."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.db.database import Repository
from serving.db.models import ReviewCase, ReviewDecision, ReviewDispute, ReviewReopen
from serving.statuses import CaseKind


class DisputeRepository(Repository):
    """Disputes: one per creator case, appended with the mark on the case in one transaction."""

    def creator_case_for_update(
        self, session: Session, settlement_id: str, creator_id: str
    ) -> ReviewCase | None:
        """A settlement's current case of one creator (not one an admin reopened: its open copy), locked."""
        query = select(ReviewCase).where(
            ReviewCase.settlement_id == settlement_id,
            ReviewCase.kind == CaseKind.CREATOR,
            ReviewCase.creator_id == creator_id,
            ~select(ReviewReopen.id).where(ReviewReopen.case_id == ReviewCase.id).exists(),
        )
        return session.scalars(query.with_for_update()).first()

    def dispute_of(self, session: Session, settlement_id: str, creator_id: str) -> ReviewDispute | None:
        """The dispute filed for a creator in a settlement (None if none was)."""
        query = select(ReviewDispute).where(
            ReviewDispute.settlement_id == settlement_id, ReviewDispute.creator_id == creator_id
        )
        return session.scalars(query.order_by(ReviewDispute.created_at)).first()

    def disputes(self, settlement_id: str) -> list[tuple[ReviewDispute, ReviewDecision | None]]:
        """A settlement's disputes, oldest first, each with its case's standing decision (None: open)."""
        with self.session() as session:
            rows = session.scalars(
                select(ReviewDispute)
                .where(ReviewDispute.settlement_id == settlement_id)
                .order_by(ReviewDispute.created_at, ReviewDispute.id)
            ).all()
            return [(row, self.standing(session, row)) for row in rows]

    def dispute_for_case(self, settlement_id: str, creator_id: str) -> ReviewDispute | None:
        """The dispute of a creator case (of its settlement and creator), if any."""
        with self.session() as session:
            return self.dispute_of(session, settlement_id, creator_id)

    @staticmethod
    def standing(session: Session, dispute: ReviewDispute) -> ReviewDecision | None:
        """The decision that stands on a dispute's creator: on its current case, not a reopened one."""
        query = (
            select(ReviewDecision)
            .join(ReviewCase, ReviewCase.id == ReviewDecision.case_id)
            .where(
                ReviewCase.settlement_id == dispute.settlement_id,
                ReviewCase.kind == CaseKind.CREATOR,
                ReviewCase.creator_id == dispute.creator_id,
                ~select(ReviewReopen.id).where(ReviewReopen.decision_id == ReviewDecision.id).exists(),
            )
        )
        return session.scalars(query.order_by(ReviewDecision.decided_at.desc())).first()
