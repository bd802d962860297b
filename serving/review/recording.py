"""Recording a decision: money through corrections, the decision row, its labels, the audit.

Money moves only through the correction service the API uses (a ``release`` adjustment whose
Idempotency-Key is the case id, so a retried decision never releases twice). Every decision is
appended to ``review_decisions`` with its note, audited against the settlement, and stored as
account labels for ``cpeguard train`` (the deadline default stores none: it is no human verdict).

An account case is confirmed (label 1, nothing moves) or cleared (label 0; one release per held
post it engaged, Idempotency-Key ``review:<case id>:<post id>``); the deadline releases nothing on it.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal

import pandas as pd

from detectors.params import ScoringParams
from detectors.policy import unit_prices
from serving import faults
from serving.auth import Principal
from serving.corrections import CorrectionService
from serving.db.audit import AuditRepository
from serving.db.campaigns import CampaignRepository
from serving.db.cases import CaseRepository
from serving.db.database import as_utc, utcnow
from serving.db.models import ReputationEntry, ReputationSubject, ReviewDecision, ReviewLabel
from serving.db.settlements import SettlementRepository
from serving.detection import DetectionService, campaigns_frame, to_decimal
from serving.errors import Conflict, Invalid
from serving.reputation import review_entries
from serving.review.account_cases import AccountPlan, account_plan
from serving.review.evidence import clean_share, flagged_accounts, post_verdicts
from serving.review.outcomes import DecisionResult, adjustment_reason, review_key
from serving.review.rows import CaseRow, account_case_key
from serving.schemas import AdjustmentIn
from serving.statuses import AdjustmentKind, CaseKind, ReviewAction

_ZERO = Decimal("0.00")


class DecisionRecorder:
    """Records decisions: releases through corrections, the decision row and labels; what a case frees."""

    def __init__(
        self,
        *,
        stored_cases: CaseRepository,
        settlements: SettlementRepository,
        campaigns: CampaignRepository,
        audit_trail: AuditRepository,
        corrections: CorrectionService,
        detection: DetectionService,
    ) -> None:
        self.stored_cases = stored_cases
        self.settlements = settlements
        self.campaigns = campaigns
        self.audit_trail = audit_trail
        self.corrections = corrections
        self.detection = detection

    def params(self, case: CaseRow) -> ScoringParams:
        """The thresholds of the detection run that made the case's settlement (they held its money).

        A settlement made without a run (detection was unavailable) has no verdicts to judge:
        the service's own thresholds stand in.
        """
        settlement = self.settlements.settlement(case.settlement_id)
        if settlement is None or settlement.run_id is None:
            return self.detection.cold.params
        return self.detection.params(settlement.run_id)

    def clean_share(self, case: CaseRow) -> Decimal:
        """The case's clean share still held: engagements neither invalid nor in the review band.

        An account case has none: clearing it releases its held engagements, the deadline nothing.
        """
        if case.kind == CaseKind.ACCOUNT:
            return _ZERO
        return min(self._clean_share(case), case.at_stake)

    def account_plan(self, case: CaseRow) -> AccountPlan:
        """What clearing an account case releases, per held post (and its main post, for labels)."""
        return account_plan(
            case.case_id,
            case.settlement_id,
            case.account_id or "",
            settlements=self.settlements,
            campaigns=self.campaigns,
            detection=self.detection,
        )

    def _record_account(
        self,
        case: CaseRow,
        *,
        action: ReviewAction,
        note: str,
        actor: Principal,
        decided_at: datetime | None = None,
        recovered_by: Principal | None = None,
    ) -> DecisionResult:
        """Confirm (nothing moves) or clear an account case: one release per held post it engaged."""
        if action not in (ReviewAction.CONFIRM_FRAUD, ReviewAction.CLEAR):
            raise Invalid(f"action: an account case is confirmed or cleared, not {action!r}")
        try:
            plan = self.account_plan(case)
        except Exception as error:
            raise Conflict(
                f"the detection verdicts of settlement {case.settlement_id} cannot be read: nothing released"
            ) from error
        ids = []
        for post_id, amount in plan.releases if action == ReviewAction.CLEAR else []:
            answer = self.corrections.adjust(
                case.settlement_id,
                AdjustmentIn(
                    post_id=post_id,
                    kind=AdjustmentKind.RELEASE,
                    amount=amount,
                    reason=adjustment_reason(case.case_id, action, note),
                ),
                idempotency_key=account_case_key(case.case_id, post_id),
                actor=actor,
            )
            ids.append(str(json.loads(answer.body)["adjustment_id"]))
        released = sum((a for _, a in plan.releases), _ZERO) if action == ReviewAction.CLEAR else _ZERO
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
        settlement = self.settlements.settlement(case.settlement_id)
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
        campaign = self.campaigns.campaign(case.campaign_id)
        prices = campaigns_frame([campaign] if campaign is not None else [])
        params = self.params(case)
        price = unit_prices(mine, prices, default_unit_price=params.policy.default_unit_price)
        return min(to_decimal(clean_share(mine, price, review_risk=params.policy.review_risk)), case.held)

    def _labels(self, case: CaseRow, action: ReviewAction) -> list[tuple[str, int]]:
        if action in (ReviewAction.DEADLINE_DEFAULT, ReviewAction.POLICY_DEFAULT):
            return []
        if case.kind == CaseKind.ACCOUNT:
            return [(case.account_id or "", 1 if action == ReviewAction.CONFIRM_FRAUD else 0)]
        try:
            mine = self.verdicts(case)
        except Exception:
            return []
        if mine.empty:
            return []
        doubted = flagged_accounts(mine, review_risk=self.params(case).policy.review_risk)
        accounts = doubted["account_id"].astype("str").tolist()
        if action == ReviewAction.CONFIRM_FRAUD:
            return [(a, 1) for a in accounts]
        if action == ReviewAction.CLEAR:
            return [(a, 0) for a in accounts]
        return list(zip(accounts, doubted["is_invalid"].astype(int).tolist(), strict=True))

    def _reputation(
        self, case: CaseRow, labels: list[tuple[str, int]], *, decided_at: datetime
    ) -> list[ReputationEntry | ReputationSubject]:
        """What the decision's labels establish for later runs (``serving.reputation``).

        Established at the end of the case's settlement period (the evidence's time), or at
        the decision if that is earlier.
        """
        if self.detection.reputation is None or not labels:
            return []
        settlement = self.settlements.settlement(case.settlement_id)
        established = decided_at if settlement is None else min(as_utc(settlement.period_end), decided_at)
        return [*review_entries(case.case_id, labels, established_at=established)]

    def _record(
        self, case: CaseRow, *, action: ReviewAction, release: Decimal, note: str, actor: Principal
    ) -> DecisionResult:
        adjustment_id = None
        if release > 0:
            answer = self.corrections.adjust(
                case.settlement_id,
                AdjustmentIn(
                    post_id=case.post_id,
                    kind=AdjustmentKind.RELEASE,
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
        action: ReviewAction,
        release: Decimal,
        adjustment_id: str | None,
        note: str,
        actor: Principal,
        decided_at: datetime,
        recovered_by: Principal | None,
        label_post: str | None = None,
        adjustment_ids: list[str] | None = None,
        labels: list[tuple[str, int]] | None = None,
    ) -> DecisionResult:
        faults.point("review_before_decision")
        if labels is None:
            labels = self._labels(case, action)
        decision = _decision(case, action, release, adjustment_id, note, actor, decided_at)
        label_rows = _label_rows(
            case, decision, labels, post_id=case.post_id if label_post is None else label_post
        )
        memory, remembered = self.detection.reputation, self._reputation(case, labels, decided_at=decided_at)
        with self.stored_cases.session() as session:
            self.stored_cases.add_decision(session, decision, label_rows)
            if memory is not None and remembered:
                memory.repository.add(session, remembered)
            self.audit_trail.record(
                session,
                actor=actor.key_id,
                role=actor.role,
                action=f"review.{action}",
                target=case.settlement_id,
                detail=_audit_detail(
                    case,
                    decision,
                    n_labels=len(labels),
                    adjustment_ids=adjustment_ids,
                    recovered_by=recovered_by,
                ),
            )
        return DecisionResult(
            case_id=case.case_id,
            decision_id=decision.id,
            action=action,
            released=release,
            adjustment_id=adjustment_id,
            n_labels=len(labels),
        )


def _label_rows(
    case: CaseRow, decision: ReviewDecision, labels: list[tuple[str, int]], *, post_id: str
) -> list[ReviewLabel]:
    """The decision's account labels as rows for training."""
    return [
        ReviewLabel(
            decision_id=decision.id,
            account_id=account_id,
            label=label,
            decided_at=decision.decided_at,
            post_id=post_id,
            campaign_id=case.campaign_id,
            settlement_id=case.settlement_id,
            source="review",
        )
        for account_id, label in labels
    ]


def _audit_detail(
    case: CaseRow,
    decision: ReviewDecision,
    *,
    n_labels: int,
    adjustment_ids: list[str] | None,
    recovered_by: Principal | None,
) -> dict[str, object]:
    """What the audit row of a decision says: the decision, and the account or recovery it concerns."""
    return {
        "case_id": case.case_id,
        "decision_id": decision.id,
        "post_id": case.post_id,
        "released": str(decision.released),
        "adjustment_id": decision.adjustment_id,
        "note": decision.note,
        "labels": n_labels,
        "decided_by_deadline": decision.is_deadline,
        **(
            {
                "kind": str(case.kind),
                "account_id": case.account_id,
                "adjustment_ids": adjustment_ids or [],
            }
            if case.kind != CaseKind.POST
            else {}
        ),
        **({"recovered_by": recovered_by.key_id} if recovered_by is not None else {}),
    }


def _decision(
    case: CaseRow,
    action: ReviewAction,
    release: Decimal,
    adjustment_id: str | None,
    note: str,
    actor: Principal,
    decided_at: datetime,
) -> ReviewDecision:
    """The decision row a reviewer's ``action`` on ``case`` writes."""
    return ReviewDecision(
        id=f"dec_{uuid.uuid4().hex}",
        case_id=case.case_id,
        settlement_id=case.settlement_id,
        post_id=case.post_id,
        action=action,
        released=release,
        adjustment_id=adjustment_id,
        note=note,
        is_deadline=action == ReviewAction.DEADLINE_DEFAULT,
        actor=actor.key_id,
        decided_at=decided_at,
    )
