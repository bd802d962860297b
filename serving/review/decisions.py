"""Decisions on cases: confirm fraud, clear, partial release, the deadline default; each a label source.

Money moves only through the correction service the API uses (a ``release`` adjustment whose
Idempotency-Key is the case id, so a retried decision never releases twice). Every decision is
appended to ``review_decisions`` with its note, audited against the settlement, and stored as
account labels for ``cpeguard train`` (the deadline default stores none: it is no human verdict).

A decider that dies between the adjustment and the decision row leaves its case ``deciding``;
``recover_stuck`` finishes such a case from its adjustment, or reopens it when no money moved.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

import pandas as pd
from sqlalchemy.exc import IntegrityError

from detectors.policy import unit_prices
from detectors.scorer import ScoringParams
from serving.auth import Principal, Role
from serving.corrections import CorrectionService
from serving.db.models import ApiKey, ReviewCase, ReviewDecision, ReviewLabel
from serving.db.repository import Repository, as_utc, utcnow
from serving.detection import DetectionService, campaigns_frame, to_decimal
from serving.errors import Invalid, ServiceError
from serving.review.cases import STUCK_AFTER, CaseService, checked_note
from serving.review.evidence import clean_share, flagged_accounts, post_verdicts
from serving.review.rows import CaseRow
from serving.schemas import AdjustmentIn

Action = Literal["confirm_fraud", "clear", "partial_release"]
ACTIONS: tuple[Action, ...] = ("confirm_fraud", "clear", "partial_release")
DEADLINE_ACTION = "deadline_default"
DEADLINE = Principal(key_id="deadline", name="settlement deadline", role=Role.ADMIN)
_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class DecisionResult:
    """What a decision did."""

    case_id: str
    decision_id: str
    action: str
    released: Decimal
    adjustment_id: str | None
    n_labels: int


@dataclass(frozen=True)
class BulkOutcome:
    """One case of a bulk action: decided, or why not."""

    case_id: str
    result: DecisionResult | None
    error: str


@dataclass(frozen=True)
class Recovery:
    """What recovering one stuck case did: ``decided`` (from its adjustment), ``reopened``, or neither."""

    case_id: str
    outcome: Literal["decided", "reopened", "skipped", "unresolved"]
    detail: str


def review_key(case_id: str) -> str:
    """The Idempotency-Key of a case's release adjustment."""
    return f"review:{case_id}"


def adjustment_reason(case_id: str, action: str, note: str) -> str:
    """The reason written on a case's release adjustment (``recover_stuck`` reads it back)."""
    return f"review {case_id} {action}: {note}"[:1000]


class DecisionService:
    """Decides cases: claims the case, moves money through corrections, records decision and labels."""

    def __init__(
        self,
        *,
        repository: Repository,
        cases: CaseService,
        corrections: CorrectionService,
        detection: DetectionService,
        params: ScoringParams,
    ) -> None:
        self.repository = repository
        self.cases = cases
        self.corrections = corrections
        self.detection = detection
        self.params = params

    def decide(
        self,
        case_id: str,
        *,
        action: str,
        note: str,
        user: Principal,
        now: datetime,
        amount: Decimal | None = None,
    ) -> DecisionResult:
        """Decide one case held by ``user`` (a note is required; partial release needs an amount)."""
        if action not in ACTIONS:
            raise Invalid(f"action: must be one of {', '.join(ACTIONS)}, not {action!r}")
        note = checked_note(note)
        self.recover_stuck(now=now, by=user, case_ids=[case_id])
        case = self.cases.claim(case_id, user=user, now=now)
        try:
            release = _release_amount(action, case, amount=amount, clean=self._clean_share(case))
            return self._record(case, action=action, release=release, note=note, actor=user)
        except Exception:
            self.cases.reopen(case_id)
            raise

    def bulk(
        self, case_ids: list[str], *, action: str, note: str, user: Principal, now: datetime
    ) -> list[BulkOutcome]:
        """Decide many cases alike; a partial release pays each case's clean share. Held cases are skipped."""
        outcomes = []
        self.recover_stuck(now=now, by=user, case_ids=list(case_ids))
        for case_id in dict.fromkeys(case_ids):
            try:
                if not self.cases.acquire(case_id, user=user, now=now):
                    held = self.cases.get(case_id, now=now)
                    raise Invalid(
                        f"held by {held.assignee_name or held.assignee}"
                        if held.status == "open"
                        else held.status
                    )
                amount = None
                if action == "partial_release":
                    amount = self.clean_share(self.cases.get(case_id, now=now))
                result = self.decide(case_id, action=action, note=note, user=user, now=now, amount=amount)
                outcomes.append(BulkOutcome(case_id=case_id, result=result, error=""))
            except ServiceError as error:
                outcomes.append(BulkOutcome(case_id=case_id, result=None, error=error.detail))
        return outcomes

    def decide_overdue(self, *, now: datetime) -> list[DecisionResult]:
        """Give every open case past its settlement cutoff the default: pay the clean share, keep the rest.

        Stuck cases are recovered first, so one reopened past its cutoff takes the default too.
        """
        self.recover_stuck(now=now, by=DEADLINE)
        done = []
        for case_id in self.cases.overdue(now=now):
            try:
                case = self.cases.claim(case_id, user=DEADLINE, now=now, is_deadline=True)
            except ServiceError:
                continue  # a reviewer is deciding it this very moment
            try:
                release = min(self.clean_share(case), case.at_stake)
                note = (
                    f"open at the settlement cutoff {case.cutoff_at.isoformat()}: clean share paid, rest held"
                )
                done.append(
                    self._record(
                        case,
                        action=DEADLINE_ACTION,
                        release=release,
                        note=note,
                        actor=DEADLINE,
                    )
                )
            except Exception:
                self.cases.reopen(case_id)
                raise
        return done

    def clean_share(self, case: CaseRow) -> Decimal:
        """The case's clean share still held: engagements neither invalid nor in the review band."""
        return min(self._clean_share(case), case.at_stake)

    def verdicts(self, case: CaseRow) -> pd.DataFrame:
        """The case post's verdicts from the settlement's detection run (empty when there was none)."""
        settlement = self.repository.settlement(case.settlement_id)
        if settlement is None or settlement.run_id is None:
            return pd.DataFrame(
                columns=["post_id", "user_id", "invalid", "risk", "ts", "action", "campaign_id"]
            )
        return post_verdicts(self.detection.verdicts(settlement.run_id), case.post_id)

    def _clean_share(self, case: CaseRow) -> Decimal:
        try:
            mine = self.verdicts(case)
        except Exception:
            return _ZERO  # no verdicts, nothing known to be clean: everything stays held
        if mine.empty:
            return _ZERO
        campaign = self.repository.campaign(case.campaign_id)
        prices = campaigns_frame([campaign] if campaign is not None else [])
        price = unit_prices(mine, prices, default_unit_price=self.params.default_unit_price)
        return min(to_decimal(clean_share(mine, price, review_risk=self.params.review_risk)), case.held)

    def _labels(self, case: CaseRow, action: str) -> list[tuple[str, int]]:
        if action == DEADLINE_ACTION:
            return []
        try:
            mine = self.verdicts(case)
        except Exception:
            return []
        if mine.empty:
            return []
        doubted = flagged_accounts(mine, review_risk=self.params.review_risk)
        accounts = doubted["account_id"].astype("str").tolist()
        if action == "confirm_fraud":
            return [(a, 1) for a in accounts]
        if action == "clear":
            return [(a, 0) for a in accounts]
        return list(zip(accounts, doubted["is_invalid"].astype(int).tolist(), strict=True))

    def recover_stuck(
        self, *, now: datetime, by: Principal, case_ids: list[str] | None = None
    ) -> list[Recovery]:
        """Finish or reopen cases ``deciding`` for longer than ``STUCK_AFTER`` (of ``case_ids``, or all).

        A release adjustment under the case's key means the money moved: the decision is recorded
        from it (action and note read back from its reason, its actor and time). No adjustment
        means nothing was recorded: the case is open again, still locked to its reviewer.
        """
        stuck = self.cases.stuck(now=now, case_ids=case_ids)
        return [self._recover(case_id, now=now, by=by) for case_id in stuck]

    def _recover(self, case_id: str, *, now: datetime, by: Principal) -> Recovery:
        adjustment = self.repository.adjustment_by_key(review_key(case_id))
        if adjustment is None:
            if not self.cases.reopen(case_id, stuck_before=now - STUCK_AFTER):
                return Recovery(case_id=case_id, outcome="skipped", detail="no longer stuck")
            with self.repository.session() as session:
                self.repository.audit(
                    session,
                    actor=by.key_id,
                    role=by.role,
                    action="review.reopen_stuck",
                    target=f"case:{case_id}",
                    detail={"reason": "deciding without an adjustment or a decision"},
                )
            return Recovery(case_id=case_id, outcome="reopened", detail="no money had moved")
        parsed = _parse_reason(case_id, adjustment.reason)
        if parsed is None:
            detail = f"adjustment {adjustment.id} under {review_key(case_id)} was not written by a decision"
            return Recovery(case_id=case_id, outcome="unresolved", detail=detail)
        action, note = parsed
        try:
            result = self._write_decision(
                self.cases.get(case_id, now=now),
                action=action,
                release=adjustment.amount,
                adjustment_id=adjustment.id,
                note=note,
                actor=self._principal(adjustment.actor),
                decided_at=as_utc(adjustment.created_at),
                recovered_by=by,
            )
        except IntegrityError:
            return Recovery(case_id=case_id, outcome="skipped", detail="another process recorded it")
        return Recovery(case_id=case_id, outcome="decided", detail=f"{action} from {result.adjustment_id}")

    def _principal(self, key_id: str) -> Principal:
        if key_id == DEADLINE.key_id:
            return DEADLINE
        with self.repository.session() as session:
            key = session.get(ApiKey, key_id)
        if key is None:
            return Principal(key_id=key_id, name=key_id, role=Role.REVIEWER)
        return Principal(key_id=key.id, name=key.name, role=Role(key.role))

    def _record(
        self, case: CaseRow, *, action: str, release: Decimal, note: str, actor: Principal
    ) -> DecisionResult:
        adjustment_id = None
        if release > 0:
            answer = self.corrections.adjust(
                case.settlement_id,
                AdjustmentIn(
                    post_id=case.post_id,
                    kind="release",
                    amount=release,
                    reason=adjustment_reason(case.case_id, action, note),
                ),
                idempotency_key=review_key(case.case_id),
                actor=actor,
            )
            adjustment_id = str(json.loads(answer.body)["adjustment_id"])
        return self._write_decision(
            case,
            action=action,
            release=release,
            adjustment_id=adjustment_id,
            note=note,
            actor=actor,
            decided_at=utcnow(),
            recovered_by=None,
        )

    def _write_decision(
        self,
        case: CaseRow,
        *,
        action: str,
        release: Decimal,
        adjustment_id: str | None,
        note: str,
        actor: Principal,
        decided_at: datetime,
        recovered_by: Principal | None,
    ) -> DecisionResult:
        is_deadline = action == DEADLINE_ACTION
        labels = self._labels(case, action)
        decision_id = f"dec_{uuid.uuid4().hex}"
        with self.repository.session() as session:
            session.add(
                ReviewDecision(
                    id=decision_id,
                    case_id=case.case_id,
                    settlement_id=case.settlement_id,
                    post_id=case.post_id,
                    action=action,
                    released=release,
                    adjustment_id=adjustment_id,
                    note=note,
                    is_deadline=is_deadline,
                    actor=actor.key_id,
                    decided_at=decided_at,
                )
            )
            session.flush()
            for account_id, label in labels:
                session.add(
                    ReviewLabel(
                        decision_id=decision_id,
                        account_id=account_id,
                        label=label,
                        decided_at=decided_at,
                        post_id=case.post_id,
                        campaign_id=case.campaign_id,
                        settlement_id=case.settlement_id,
                        source="review",
                    )
                )
            row = session.get(ReviewCase, case.case_id)
            assert row is not None
            row.status = "decided"
            row.decided_at = decided_at
            row.locked_until = None
            self.repository.audit(
                session,
                actor=actor.key_id,
                role=actor.role,
                action=f"review.{action}",
                target=case.settlement_id,
                detail={
                    "case_id": case.case_id,
                    "decision_id": decision_id,
                    "post_id": case.post_id,
                    "released": str(release),
                    "adjustment_id": adjustment_id,
                    "note": note,
                    "labels": len(labels),
                    "decided_by_deadline": is_deadline,
                    **({"recovered_by": recovered_by.key_id} if recovered_by is not None else {}),
                },
            )
        return DecisionResult(
            case_id=case.case_id,
            decision_id=decision_id,
            action=action,
            released=release,
            adjustment_id=adjustment_id,
            n_labels=len(labels),
        )


def _parse_reason(case_id: str, reason: str) -> tuple[str, str] | None:
    """(action, note) of a reason ``adjustment_reason`` wrote for this case, else None."""
    head = f"review {case_id} "
    action, sep, note = reason.removeprefix(head).partition(": ")
    if not reason.startswith(head) or not sep or action not in (*ACTIONS, DEADLINE_ACTION):
        return None
    return action, note


def _release_amount(action: str, case: CaseRow, *, amount: Decimal | None, clean: Decimal) -> Decimal:
    if action == "confirm_fraud":
        return _ZERO
    if action == "clear":
        return case.at_stake
    if amount is None:
        amount = min(clean, case.at_stake)
    if amount <= 0 or amount > case.at_stake:
        raise Invalid(f"amount: a partial release must be above 0 and at most the {case.at_stake} still held")
    if amount != amount.quantize(Decimal("0.01")):
        raise Invalid("amount: at most two decimal places")
    return amount
