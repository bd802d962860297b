"""Corrections beside a settlement: idempotent adjustments and the sign-off of a capped settlement.

A settlement never changes. A reviewer releases held money or claws back paid money
with an adjustment, and signs off a settlement that the blast-radius cap marked
``needs_signoff``; both are appended (the tables refuse updates and deletes) and
audited with actor and time.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving import faults
from serving.auth import Principal
from serving.db.audit import AuditRepository
from serving.db.database import as_utc, utcnow
from serving.db.models import Adjustment, Settlement, SettlementPost, SettlementSignoff
from serving.db.settlements import SettlementRepository
from serving.errors import Conflict, Invalid, NotFound
from serving.schemas import NO_NUL, AdjustmentIn, AdjustmentOut
from serving.settlement import StoredAnswer
from serving.statuses import AdjustmentKind, SettlementStatus

_ZERO = Decimal("0.00")


class SignoffIn(BaseModel):
    """A reviewer's sign-off of a settlement over the withholding cap."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"note": "checked the 12 held posts: bought likes, hold stands"}]},
    )
    note: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NO_NUL)]


class SignoffOut(BaseModel):
    """A recorded sign-off, linked to its settlement."""

    signoff_id: str
    settlement_id: str
    actor: str
    role: str
    note: str
    created_at: datetime


class CorrectionService:
    """Appends adjustments (exactly once per Idempotency-Key) and sign-offs beside settlements."""

    def __init__(self, *, settlements: SettlementRepository, audit_trail: AuditRepository) -> None:
        self.settlements = settlements
        self.audit_trail = audit_trail

    def adjust(
        self, settlement_id: str, request: AdjustmentIn, *, idempotency_key: str, actor: Principal
    ) -> StoredAnswer:
        """Append a release (of held or withheld money) or clawback (of paid money) to a settlement's post.

        The same key and body replay the stored answer; the same key with another body is a 409.
        """
        request_hash = hashlib.sha256(f"{settlement_id}\x1f{request.model_dump_json()}".encode()).hexdigest()
        replayed = self._replay(idempotency_key, request_hash, actor)
        if replayed is not None:
            return replayed
        try:
            body = self._append(settlement_id, request, idempotency_key, request_hash, actor)
        except IntegrityError:
            # a concurrent twin with the same key won: answer with its adjustment
            replayed = self._replay(idempotency_key, request_hash, actor)
            if replayed is None:
                raise
            return replayed
        return StoredAnswer(body=body, is_replay=False)

    def adjustments(self, settlement_id: str) -> list[AdjustmentOut]:
        """A settlement's adjustments, oldest first."""
        if self.settlements.settlement(settlement_id) is None:
            raise NotFound(f"no settlement {settlement_id!r}")
        with self.settlements.session() as session:
            return [_adjustment_out(a) for a in self.settlements.adjustments(session, settlement_id)]

    def signoff(self, settlement_id: str, request: SignoffIn, *, actor: Principal) -> SignoffOut:
        """Record the one sign-off of a ``needs_signoff`` settlement (409 if not needed or already given)."""
        try:
            with self.settlements.session() as session:
                settlement = self.settlements.settlement_for_update(session, settlement_id)
                if settlement is None:
                    raise NotFound(f"no settlement {settlement_id!r}")
                if settlement.status != SettlementStatus.NEEDS_SIGNOFF:
                    raise Conflict(
                        f"settlement {settlement_id} does not need a sign-off ({settlement.status})"
                    )
                given = self.settlements.signoff_of(session, settlement_id)
                if given is not None:
                    raise Conflict(_already(given))
                row = SettlementSignoff(
                    id=f"sgn_{uuid.uuid4().hex}",
                    settlement_id=settlement_id,
                    actor=actor.key_id,
                    role=actor.role.value,
                    note=request.note,
                    created_at=utcnow(),
                )
                session.add(row)
                session.flush()
                self.audit_trail.record(
                    session,
                    actor=actor.key_id,
                    role=actor.role,
                    action="settlement.signoff",
                    target=settlement_id,
                    detail={"signoff_id": row.id, "note": request.note},
                )
        except IntegrityError:
            existing = self.signoff_of(settlement_id)
            raise Conflict(_already_out(existing)) from None
        return _signoff_out(row)

    def signoff_of(self, settlement_id: str) -> SignoffOut:
        """The sign-off of a settlement (404 when there is none yet)."""
        with self.settlements.session() as session:
            row = self.settlements.signoff_of(session, settlement_id)
        if row is None:
            raise NotFound(f"settlement {settlement_id!r} has no sign-off")
        return _signoff_out(row)

    def _replay(self, key: str, request_hash: str, actor: Principal) -> StoredAnswer | None:
        stored = self.settlements.adjustment_by_key(key)
        if stored is None:
            return None
        if stored.request_hash != request_hash or stored.body is None:
            raise Conflict(f"Idempotency-Key was already used with a different body (adjustment {stored.id})")
        with self.audit_trail.session() as session:
            self.audit_trail.record(
                session,
                actor=actor.key_id,
                role=actor.role,
                action="adjustment.replay",
                target=stored.settlement_id,
                detail={"adjustment_id": stored.id},
            )
        return StoredAnswer(body=stored.body.encode(), is_replay=True)

    def _append(
        self, settlement_id: str, request: AdjustmentIn, key: str, request_hash: str, actor: Principal
    ) -> bytes:
        with self.settlements.session() as session:
            settlement, line = self._locked_line(session, settlement_id, request.post_id)
            prior = [
                a for a in self.settlements.adjustments(session, settlement_id) if a.post_id == line.post_id
            ]
            withheld = (
                withheld_on(settlement.body, line.post_id)
                if request.kind == AdjustmentKind.RELEASE_WITHHELD
                else _ZERO
            )
            _check_room(request, line, prior, withheld=withheld)
            out = AdjustmentOut(
                adjustment_id=f"adj_{uuid.uuid4().hex}",
                settlement_id=settlement_id,
                post_id=line.post_id,
                kind=request.kind,
                amount=request.amount,
                reason=request.reason,
                actor=actor.key_id,
                created_at=utcnow(),
            )
            body = out.model_dump_json().encode()
            session.add(
                Adjustment(
                    id=out.adjustment_id,
                    settlement_id=settlement_id,
                    post_id=line.post_id,
                    kind=request.kind,
                    amount=request.amount,
                    reason=request.reason,
                    actor=actor.key_id,
                    created_at=out.created_at,
                    idempotency_key=key,
                    request_hash=request_hash,
                    body=body.decode(),
                )
            )
            session.flush()
            self.audit_trail.record(
                session,
                actor=actor.key_id,
                role=actor.role,
                action=f"adjustment.{request.kind}",
                target=settlement_id,
                detail={
                    "adjustment_id": out.adjustment_id,
                    "post_id": line.post_id,
                    "amount": str(request.amount),
                    "reason": request.reason,
                    "idempotency_key": key,
                },
            )
            session.flush()
            faults.point("adjustment_before_commit")
        return body

    def _locked_line(
        self, session: Session, settlement_id: str, post_id: str
    ) -> tuple[Settlement, SettlementPost]:
        """The settlement, locked so corrections to it queue, and the post's line (404 if unknown)."""
        settlement = self.settlements.settlement_for_update(session, settlement_id)
        if settlement is None:
            raise NotFound(f"no settlement {settlement_id!r}")
        line = self.settlements.post_line(session, settlement_id, post_id)
        if line is None:
            raise NotFound(f"post_id: post {post_id!r} is not in settlement {settlement_id}")
        return settlement, line


def withheld_on(body: str, post_id: str) -> Decimal:
    """What a settlement withheld on one post (its stored answer's ``withheld_amount``; 0 if absent)."""
    try:
        posts = json.loads(body).get("posts", [])
    except ValueError:
        return _ZERO
    for post in posts:
        if str(post.get("post_id")) == post_id:
            return Decimal(str(post.get("withheld_amount", "0")))
    return _ZERO


def _check_room(
    request: AdjustmentIn, line: SettlementPost, prior: Sequence[Adjustment], *, withheld: Decimal
) -> None:
    """Refuse a correction beyond what the post has: held or withheld money unreleased, or paid money."""
    sums = {kind: sum((a.amount for a in prior if a.kind == kind), _ZERO) for kind in tuple(AdjustmentKind)}
    released = sums[AdjustmentKind.RELEASE] + sums[AdjustmentKind.RELEASE_WITHHELD]
    rooms = {
        AdjustmentKind.RELEASE: line.held_amount - sums[AdjustmentKind.RELEASE],
        AdjustmentKind.RELEASE_WITHHELD: withheld - sums[AdjustmentKind.RELEASE_WITHHELD],
        AdjustmentKind.CLAWBACK: line.payable + released - sums[AdjustmentKind.CLAWBACK],
    }
    room = rooms[request.kind]
    if request.amount > room:
        raise Invalid(
            f"amount: a {request.kind} of {request.amount} exceeds the {room} available "
            f"on post {line.post_id}"
        )


def _adjustment_out(adjustment: Adjustment) -> AdjustmentOut:
    return AdjustmentOut(
        adjustment_id=adjustment.id,
        settlement_id=adjustment.settlement_id,
        post_id=adjustment.post_id,
        kind=adjustment.kind,
        amount=adjustment.amount,
        reason=adjustment.reason,
        actor=adjustment.actor,
        created_at=as_utc(adjustment.created_at),
    )


def _signoff_out(row: SettlementSignoff) -> SignoffOut:
    return SignoffOut(
        signoff_id=row.id,
        settlement_id=row.settlement_id,
        actor=row.actor,
        role=row.role,
        note=row.note,
        created_at=as_utc(row.created_at),
    )


def _already(row: SettlementSignoff) -> str:
    return _already_out(_signoff_out(row))


def _already_out(out: SignoffOut) -> str:
    return (
        f"settlement {out.settlement_id} was already signed off by key {out.actor} "
        f"at {out.created_at.isoformat()} ({out.signoff_id})"
    )
