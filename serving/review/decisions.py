"""Decisions on cases: confirm fraud, clear, partial release, the deadline default; each a label source.

Money moves only through the correction service the API uses (a ``release`` adjustment whose
Idempotency-Key is the case id, so a retried decision never releases twice). Every decision is
appended to ``review_decisions`` with its note, audited against the settlement, and stored as
account labels for ``cpeguard train`` (the deadline default stores none: it is no human verdict).

An account case is confirmed (label 1, nothing moves) or cleared (label 0; one release per held
post it engaged, Idempotency-Key ``review:<case id>:<post id>``); the deadline releases nothing on it.

A decider that dies between the adjustment and the decision row leaves its case ``deciding``;
``recover_stuck`` finishes such a case from its adjustment, or reopens it when no money moved.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy.exc import IntegrityError

from detectors.policy import unit_prices
from detectors.scorer import ScoringParams
from serving.auth import Principal, Role
from serving.corrections import CorrectionService
from serving.db.models import ApiKey, ReviewCase, ReviewDecision, ReviewLabel
from serving.db.repository import Repository, as_utc, utcnow
from serving.detection import DetectionService, campaigns_frame, to_decimal
from serving.errors import Conflict, Invalid, ServiceError
from serving.review.accounts import AccountPlan, account_plan, case_adjustments
from serving.review.cases import STUCK_AFTER, CaseService, checked_note
from serving.review.evidence import clean_share, flagged_accounts, post_verdicts
from serving.review.outcomes import (
    ACTIONS,
    DEADLINE,
    DEADLINE_ACTION,
    BulkOutcome,
    DecisionResult,
    Recovery,
    adjustment_reason,
    parse_reason,
    release_amount,
    review_key,
)
from serving.review.rows import CaseRow, account_case_key
from serving.schemas import AdjustmentIn

_ZERO = Decimal("0.00")


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
        if action == "partial_release" and self.cases.get(case_id, now=now).kind == "account":
            raise Invalid(
                "action: an account case is confirmed or cleared; partial release is for post cases"
            )
        self.recover_stuck(now=now, by=user, case_ids=[case_id])
        case = self.cases.claim(case_id, user=user, now=now)
        try:
            if case.kind == "account":
                return self._record_account(case, action=action, note=note, actor=user)
            release = release_amount(action, case, amount=amount, clean=self._clean_share(case))
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
                release = min(self.clean_share(case), case.at_stake) if case.kind == "post" else _ZERO
                outcome = (
                    "clean share paid, rest held" if case.kind == "post" else "nothing released, no label"
                )
                note = f"open at the settlement cutoff {case.cutoff_at.isoformat()}: {outcome}"
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
        """The case's clean share still held: engagements neither invalid nor in the review band.

        An account case has none: clearing it releases its held engagements, the deadline nothing.
        """
        if case.kind == "account":
            return _ZERO
        return min(self._clean_share(case), case.at_stake)

    def account_plan(self, case: CaseRow) -> AccountPlan:
        """What clearing an account case releases, per held post (and its main post, for labels)."""
        return account_plan(
            case.case_id,
            case.settlement_id,
            case.account_id or "",
            repository=self.repository,
            detection=self.detection,
            params=self.params,
        )

    def _record_account(
        self,
        case: CaseRow,
        *,
        action: str,
        note: str,
        actor: Principal,
        decided_at: datetime | None = None,
        recovered_by: Principal | None = None,
    ) -> DecisionResult:
        """Confirm (nothing moves) or clear an account case: one release per held post it engaged."""
        if action not in ("confirm_fraud", "clear"):
            raise Invalid(f"action: an account case is confirmed or cleared, not {action!r}")
        try:
            plan = self.account_plan(case)
        except Exception as error:
            raise Conflict(
                f"the detection verdicts of settlement {case.settlement_id} cannot be read: nothing released"
            ) from error
        ids = []
        for post_id, amount in plan.releases if action == "clear" else []:
            answer = self.corrections.adjust(
                case.settlement_id,
                AdjustmentIn(
                    post_id=post_id,
                    kind="release",
                    amount=amount,
                    reason=adjustment_reason(case.case_id, action, note),
                ),
                idempotency_key=account_case_key(case.case_id, post_id),
                actor=actor,
            )
            ids.append(str(json.loads(answer.body)["adjustment_id"]))
        released = sum((a for _, a in plan.releases), _ZERO) if action == "clear" else _ZERO
        return self._write_decision(
            case,
            action=action,
            release=released,
            adjustment_id=ids[0] if ids else None,
            note=note,
            actor=actor,
            decided_at=decided_at or utcnow(),
            recovered_by=recovered_by,
            label_post=plan.main_post,
            adjustment_ids=ids,
        )

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
        if case.kind == "account":
            return [(case.account_id or "", 1 if action == "confirm_fraud" else 0)]
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
        case = self.cases.get(case_id, now=now)
        if case.kind == "account":
            made = case_adjustments(self.repository, case_id)
            adjustment = made[0] if made else None
        else:
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
        parsed = parse_reason(case_id, adjustment.reason)
        if parsed is None:
            detail = f"adjustment {adjustment.id} under {review_key(case_id)} was not written by a decision"
            return Recovery(case_id=case_id, outcome="unresolved", detail=detail)
        action, note = parsed
        try:
            if case.kind == "account":  # finish its releases (the ones made replay), then record
                result = self._record_account(
                    case,
                    action=action,
                    note=note,
                    actor=self._principal(adjustment.actor),
                    decided_at=as_utc(adjustment.created_at),
                    recovered_by=by,
                )
                return Recovery(
                    case_id=case_id, outcome="decided", detail=f"{action} from {result.adjustment_id}"
                )
            result = self._write_decision(
                case,
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
        label_post: str | None = None,
        adjustment_ids: list[str] | None = None,
    ) -> DecisionResult:
        is_deadline = action == DEADLINE_ACTION
        labels = self._labels(case, action)
        label_post = case.post_id if label_post is None else label_post
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
                        post_id=label_post,
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
                    **(
                        {
                            "kind": "account",
                            "account_id": case.account_id,
                            "adjustment_ids": adjustment_ids or [],
                        }
                        if case.kind == "account"
                        else {}
                    ),
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
