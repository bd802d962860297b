"""Creator disputes: a brand disputes what a settlement kept of a creator's money, through the API.

``POST /v1/settlements/{id}/disputes`` names the creator (or one of the creator's posts) and why.
The dispute marks the creator's case in the review queue (one per creator with money withheld or
held in the settlement) as ``dispute``; it is decided like any creator case. Clearing it (for the
creator) pays what was withheld and held and labels the creator's doubted accounts 0; confirming
keeps the money and labels them 1. Both are exported by ``serving.labels.load_labels`` with
``sample=dispute``.

Their ``sampled_with_probability`` is 1, on purpose. A creator case is queued whenever it opens
(policy never decides it), so the dispute did not make a verdict on it likelier; what a dispute
selects is which cases a creator believes wrong, a self-selected set whose rate cannot be known.
Weighing its verdicts up by an estimated dispute rate would let a few self-selected cases stand
for every undisputed one; weight 1 claims nothing beyond the case itself, and ``by_sample``
(training/operating.py) reports these verdicts apart.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving.auth import Principal
from serving.db.audit import AuditRepository
from serving.db.database import as_utc, utcnow
from serving.db.disputes import DisputeRepository
from serving.db.models import ReviewDecision, ReviewDispute
from serving.db.settlements import SettlementRepository
from serving.errors import Conflict, NotFound
from serving.review.opening import CaseOpener
from serving.review.subjects import settlement_lines
from serving.schemas import DisputeIn, DisputeOut
from serving.statuses import CaseSample, CaseStatus

# the propensity of a dispute's verdicts (see the module's docstring)
DISPUTE_PROBABILITY = 1.0


class DisputeService:
    """Files disputes on creator cases (once per case, audited) and reports how they were decided."""

    def __init__(
        self,
        *,
        disputes: DisputeRepository,
        settlements: SettlementRepository,
        cases: CaseOpener,
        audit_trail: AuditRepository,
    ) -> None:
        self.disputes = disputes
        self.settlements = settlements
        self.cases = cases
        self.audit_trail = audit_trail

    def file(self, settlement_id: str, request: DisputeIn, *, actor: Principal) -> tuple[DisputeOut, bool]:
        """File a dispute (True) or find the one already filed for the creator (False).

        404 for an unknown settlement, creator or post; 409 when the settlement keeps none of the
        creator's money or the creator's case is already decided (an admin can reopen it).
        """
        creator_id = self._creator(settlement_id, request)
        self.cases.sync()  # the settlement's creator cases, if not opened yet
        try:
            with self.disputes.session() as session:
                case = self.disputes.creator_case_for_update(session, settlement_id, creator_id)
                if case is None:
                    raise Conflict(
                        f"settlement {settlement_id} keeps none of creator {creator_id}'s money: "
                        "nothing to dispute"
                    )
                existing = self.disputes.dispute_of(session, settlement_id, creator_id)
                if existing is not None:
                    return _out(existing, self.disputes.standing(session, existing)), False
                if case.status != CaseStatus.OPEN:
                    raise Conflict(
                        f"the case of creator {creator_id} in settlement {settlement_id} ({case.id}) is "
                        f"{case.status} already; an admin can reopen it"
                    )
                row = ReviewDispute(
                    id=f"dsp_{uuid.uuid4().hex}",
                    case_id=case.id,
                    settlement_id=settlement_id,
                    creator_id=creator_id,
                    post_id=request.post_id,
                    reason=request.reason,
                    actor=actor.key_id,
                    created_at=utcnow(),
                )
                case.sample, case.sampled_with_probability = CaseSample.DISPUTE, DISPUTE_PROBABILITY
                session.add(row)
                session.flush()
                self._audit(session, row, actor)
        except IntegrityError:  # filed by another request at the same moment
            return self._existing(settlement_id, creator_id), False
        return _out(row, None), True

    def of_settlement(self, settlement_id: str) -> list[DisputeOut]:
        """A settlement's disputes, oldest first, with how each creator's case was decided."""
        if self.settlements.settlement(settlement_id) is None:
            raise NotFound(f"no settlement {settlement_id!r}")
        return [_out(row, decision) for row, decision in self.disputes.disputes(settlement_id)]

    def of_case(self, settlement_id: str, creator_id: str) -> ReviewDispute | None:
        """The dispute of a creator case (None for any other case or an undisputed one)."""
        return self.disputes.dispute_for_case(settlement_id, creator_id) if creator_id else None

    def _creator(self, settlement_id: str, request: DisputeIn) -> str:
        """The disputed creator, checked against the settlement's lines (404 naming what is unknown)."""
        settlement = self.settlements.settlement(settlement_id)
        if settlement is None:
            raise NotFound(f"no settlement {settlement_id!r}")
        lines = settlement_lines(settlement.body)
        creator_id = request.creator_id
        if request.post_id is not None:
            post = lines.loc[lines["post_id"].astype("str") == request.post_id]
            if post.empty:
                raise NotFound(f"post_id: settlement {settlement_id} has no post {request.post_id!r}")
            owner = str(post["creator_id"].iloc[0])
            if creator_id is not None and creator_id != owner:
                raise NotFound(f"creator_id: post {request.post_id} is creator {owner}'s, not {creator_id!r}")
            creator_id = owner
        assert creator_id is not None  # DisputeIn asks for one of the two
        if not (lines["creator_id"].astype("str") == creator_id).any():
            raise NotFound(f"creator_id: settlement {settlement_id} has no post of creator {creator_id!r}")
        return creator_id

    def _existing(self, settlement_id: str, creator_id: str) -> DisputeOut:
        found = self.disputes.dispute_for_case(settlement_id, creator_id)
        if found is None:
            raise Conflict(f"the dispute of creator {creator_id} could not be recorded; try again")
        return _out(found, None)

    def _audit(self, session: Session, row: ReviewDispute, actor: Principal) -> None:
        self.audit_trail.record(
            session,
            actor=actor.key_id,
            role=actor.role,
            action="dispute.filed",
            target=row.settlement_id,
            detail={
                "dispute_id": row.id,
                "case_id": row.case_id,
                "creator_id": row.creator_id,
                "post_id": row.post_id,
                "reason": row.reason,
            },
        )


def _out(row: ReviewDispute, decision: ReviewDecision | None) -> DisputeOut:
    return DisputeOut(
        dispute_id=row.id,
        settlement_id=row.settlement_id,
        creator_id=row.creator_id,
        post_id=row.post_id,
        case_id=decision.case_id if decision is not None else row.case_id,
        reason=row.reason,
        filed_by=row.actor,
        filed_at=as_utc(row.created_at),
        status="decided" if decision is not None else "open",
        outcome=str(decision.action) if decision is not None else None,
        released=decision.released if decision is not None else None,
    )
