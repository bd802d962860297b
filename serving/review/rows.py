"""A review case as the queue and the case page show it: the stored case plus money and sign-off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.db.models import Adjustment, ReviewCase, SettlementSignoff
from serving.db.repository import as_utc

_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class CaseRow:
    """A case as the queue and the case page show it."""

    case_id: str
    settlement_id: str
    post_id: str
    campaign_id: str
    platform: str
    creator_id: str
    reasons: list[str]
    needs_signoff: bool
    held: Decimal
    released: Decimal
    at_stake: Decimal
    cutoff_at: datetime
    time_left: timedelta
    status: str
    assignee: str | None
    assignee_name: str | None
    locked_until: datetime | None
    signed_off_by: str | None
    signed_off_at: datetime | None

    @property
    def awaits_signoff(self) -> bool:
        """Whether the case's settlement needs a sign-off that nobody has given yet."""
        return self.needs_signoff and self.signed_off_at is None

    def is_locked_by_other(self, key_id: str, now: datetime) -> bool:
        """Whether another reviewer holds a live lock on this case."""
        return (
            self.assignee is not None
            and self.assignee != key_id
            and self.locked_until is not None
            and self.locked_until > now
        )


def case_rows(session: Session, cases: list[ReviewCase], *, now: datetime) -> list[CaseRow]:
    """Rows of stored cases, with what was released on each post and their settlements' sign-offs."""
    settlement_ids = {c.settlement_id for c in cases}
    released = _released(session, settlement_ids)
    signoffs = _signoffs(session, settlement_ids)
    return [_row(c, released, signoffs, now) for c in cases]


def _signoffs(session: Session, settlement_ids: set[str]) -> dict[str, tuple[str, datetime]]:
    if not settlement_ids:
        return {}
    query = select(
        SettlementSignoff.settlement_id, SettlementSignoff.actor, SettlementSignoff.created_at
    ).where(SettlementSignoff.settlement_id.in_(sorted(settlement_ids)))
    return {s: (actor, as_utc(at)) for s, actor, at in session.execute(query).all()}


def _released(session: Session, settlement_ids: set[str]) -> dict[tuple[str, str], Decimal]:
    if not settlement_ids:
        return {}
    query = (
        select(Adjustment.settlement_id, Adjustment.post_id, func.sum(Adjustment.amount))
        .where(Adjustment.settlement_id.in_(sorted(settlement_ids)), Adjustment.kind == "release")
        .group_by(Adjustment.settlement_id, Adjustment.post_id)
    )
    rows = session.execute(query).all()
    return {(s, p): Decimal(str(total)).quantize(Decimal("0.01")) for s, p, total in rows}


def _row(
    case: ReviewCase,
    released_by_post: dict[tuple[str, str], Decimal],
    signoffs: dict[str, tuple[str, datetime]],
    now: datetime,
) -> CaseRow:
    cutoff = as_utc(case.cutoff_at)
    released = released_by_post.get((case.settlement_id, case.post_id), _ZERO)
    signoff = signoffs.get(case.settlement_id)
    return CaseRow(
        case_id=case.id,
        settlement_id=case.settlement_id,
        post_id=case.post_id,
        campaign_id=case.campaign_id,
        platform=case.platform,
        creator_id=case.creator_id,
        reasons=[r for r in case.reasons.split(";") if r],
        needs_signoff=case.needs_signoff,
        held=case.held_amount,
        released=released,
        at_stake=max(case.held_amount - released, _ZERO),
        cutoff_at=cutoff,
        time_left=cutoff - now,
        status=case.status,
        assignee=case.assignee,
        assignee_name=case.assignee_name,
        locked_until=as_utc(case.locked_until) if case.locked_until else None,
        signed_off_by=signoff[0] if signoff else None,
        signed_off_at=signoff[1] if signoff else None,
    )
