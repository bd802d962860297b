"""Reopening a decision that moved money: each of its releases is reversed by an audited
counter-adjustment, so re-deciding the case never pays twice.

The counter-adjustment of a release is an adjustment of the same kind and post with the opposite
amount, under the Idempotency-Key ``reverse:<adjustment id>`` (a release is reversed at most once).
It nets out of every sum of releases: what the post holds or withholds is kept again, and the
reopened case can release it again, once.

If the settlement's money already left (its cutoff passed: the settlement deadline decides what is
open and the money is paid out then, ``has_paid_out``), the released money is with the creator:
the counter-adjustment then also stands as a **clawback item** (its reason says so, and a
``review.clawback_item`` audit row names the creator, post and amount to recover).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from serving.auth import Principal
from serving.db.audit import AuditRepository
from serving.db.database import as_utc, utcnow
from serving.db.models import Adjustment
from serving.db.settlements import SettlementRepository
from serving.statuses import AdjustmentKind

REVERSE_PREFIX = "reverse:"
MOVED = (AdjustmentKind.RELEASE, AdjustmentKind.RELEASE_WITHHELD)


def has_paid_out(cutoff_at: datetime, now: datetime) -> bool:
    """Whether a settlement's money already left: its cutoff (when it is paid out) has passed."""
    return as_utc(cutoff_at) <= now


def reverse_key(adjustment_id: str) -> str:
    """The Idempotency-Key of the counter-adjustment of one release."""
    return f"{REVERSE_PREFIX}{adjustment_id}"


@dataclass(frozen=True)
class Reversal:
    """What reopening does to one release of the decision: reverse it, and whether it is a clawback item."""

    adjustment_id: str
    settlement_id: str
    post_id: str
    kind: AdjustmentKind
    amount: Decimal
    is_clawback_item: bool

    def sentence(self, currency: str) -> str:
        """What the reopen form says of it before the click."""
        head = (
            f"{self.amount} {currency} {self.kind} on post {self.post_id} ({self.adjustment_id}) is reversed"
        )
        if self.is_clawback_item:
            return f"{head}; it was paid out at the cutoff, so it is recorded as a clawback item to recover"
        return f"{head}: held or withheld again until the case is decided again"


def planned_reversals(made: list[Adjustment], *, cutoff_at: datetime, now: datetime) -> list[Reversal]:
    """The reversals reopening a decision makes, of the releases it made (``made``)."""
    paid_out = has_paid_out(cutoff_at, now)
    return [
        Reversal(
            adjustment_id=a.id,
            settlement_id=a.settlement_id,
            post_id=a.post_id,
            kind=AdjustmentKind(a.kind),
            amount=Decimal(str(a.amount)),
            is_clawback_item=paid_out,
        )
        for a in made
        if a.kind in MOVED and a.amount > 0
    ]


def record_reversals(
    session: Session,
    reversals: list[Reversal],
    *,
    settlements: SettlementRepository,
    audit_trail: AuditRepository,
    actor: Principal,
    why: str,
) -> list[str]:
    """Append the counter-adjustments in the caller's transaction (each settlement locked first), audited;
    their ids."""
    ids = []
    for settlement_id in sorted({r.settlement_id for r in reversals}):
        settlements.settlement_for_update(session, settlement_id)
    for r in reversals:
        item = " (paid out at the cutoff: clawback item)" if r.is_clawback_item else ""
        row = Adjustment(
            id=f"adj_{uuid.uuid4().hex}",
            settlement_id=r.settlement_id,
            post_id=r.post_id,
            kind=r.kind,
            amount=-r.amount,
            reason=f"reverses {r.adjustment_id}{item}: {why}"[:1000],
            actor=actor.key_id,
            created_at=utcnow(),
            idempotency_key=reverse_key(r.adjustment_id),
        )
        session.add(row)
        session.flush()
        detail = {
            "adjustment_id": row.id,
            "reverses": r.adjustment_id,
            "post_id": r.post_id,
            "amount": str(-r.amount),
            "reason": row.reason,
        }
        audit_trail.record(
            session,
            actor=actor.key_id,
            role=actor.role,
            action="adjustment.reversal",
            target=r.settlement_id,
            detail=detail,
        )
        if r.is_clawback_item:
            _audit_clawback_item(
                session, r, row.id, settlements=settlements, audit_trail=audit_trail, actor=actor
            )
        ids.append(row.id)
    return ids


def _audit_clawback_item(
    session: Session,
    r: Reversal,
    reversal_id: str,
    *,
    settlements: SettlementRepository,
    audit_trail: AuditRepository,
    actor: Principal,
) -> None:
    """The ``review.clawback_item`` audit row of a release already paid out: whom to recover it from."""
    line = settlements.post_line(session, r.settlement_id, r.post_id)
    audit_trail.record(
        session,
        actor=actor.key_id,
        role=actor.role,
        action="review.clawback_item",
        target=r.settlement_id,
        detail={
            "post_id": r.post_id,
            "creator_id": line.creator_id if line is not None else "",
            "amount": str(r.amount),
            "kind": str(r.kind),
            "reversal_id": reversal_id,
            "reverses": r.adjustment_id,
        },
    )
