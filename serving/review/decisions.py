"""Decisions on cases: confirm fraud, clear, partial release, the deadline default; each a label source.

How a decision moves money and is recorded (the release adjustments, the decision row, its labels)
is ``serving.review.recording``; this module claims the case and picks what to record.

A decider that dies between the adjustment and the decision row leaves its case ``deciding``;
``recover_stuck`` finishes such a case from its adjustment, or reopens it when no money moved.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from serving.auth import Principal, Role
from serving.corrections import CorrectionService
from serving.db.audit import AuditRepository
from serving.db.campaigns import CampaignRepository
from serving.db.cases import CaseRepository
from serving.db.database import as_utc
from serving.db.keys import KeyRepository
from serving.db.models import Adjustment
from serving.db.settlements import SettlementRepository
from serving.detection import DetectionService
from serving.errors import Invalid, ServiceError
from serving.review.cases import STUCK_AFTER, CaseService, checked_note
from serving.review.group_links import LinkedGroup, linked_group
from serving.review.opening import POLICY
from serving.review.outcomes import (
    ACTIONS,
    DEADLINE,
    BulkOutcome,
    DecisionResult,
    Recovery,
    parse_reason,
    release_amount,
    review_key,
)
from serving.review.rows import CaseRow
from serving.review.subject_recording import SubjectRecorder, split_exceptions
from serving.statuses import CaseKind, CaseStatus, ReviewAction

_ZERO = Decimal("0.00")


class DecisionService(SubjectRecorder):
    """Decides cases: claims the case, moves money through corrections, records decision and labels."""

    def __init__(
        self,
        *,
        stored_cases: CaseRepository,
        settlements: SettlementRepository,
        campaigns: CampaignRepository,
        keys: KeyRepository,
        audit_trail: AuditRepository,
        cases: CaseService,
        corrections: CorrectionService,
        detection: DetectionService,
    ) -> None:
        super().__init__(
            stored_cases=stored_cases,
            settlements=settlements,
            campaigns=campaigns,
            audit_trail=audit_trail,
            corrections=corrections,
            detection=detection,
        )
        self.keys = keys
        self.cases = cases

    def decide(
        self,
        case_id: str,
        *,
        action: str,
        note: str,
        user: Principal,
        now: datetime,
        amount: Decimal | None = None,
        excepted: list[str] | None = None,
    ) -> DecisionResult:
        """Decide one case held by ``user`` (a note is required; partial release needs an amount;
        ``excepted``: members of a group labelled clean when confirming it)."""
        if action not in ACTIONS:
            raise Invalid(
                f"action: choose one of {', '.join(ACTIONS)}" + (f", not {action!r}" if action else "")
            )
        chosen = ReviewAction(action)
        note = checked_note(note)
        kind = self.cases.get(case_id, now=now).kind
        if chosen == ReviewAction.PARTIAL_RELEASE and kind != CaseKind.POST:
            raise Invalid(f"action: a {kind} case is confirmed or cleared; partial release is for post cases")
        self.recover_stuck(now=now, by=user, case_ids=[case_id])
        group = (
            linked_group(self.stored_cases, self.cases.get(case_id, now=now), now=now)
            if kind == CaseKind.GROUP
            else None
        )
        if excepted and (kind != CaseKind.GROUP or chosen != ReviewAction.CONFIRM_FRAUD):
            raise Invalid("except: members are excepted only when confirming a group")
        mine = excepted
        if group is not None and excepted:
            unknown = sorted(set(excepted) - set(group.all_members))
            if unknown:
                raise Invalid(f"except: {', '.join(unknown)} not a member of this seller group")
            mine = [e for e in excepted if e in group.members.get(case_id, set())]
        case = self.cases.claim(case_id, user=user, now=now)
        try:
            if case.kind == CaseKind.ACCOUNT:
                return self._record_account(case, action=chosen, note=note, actor=user)
            if case.kind in (CaseKind.CREATOR, CaseKind.GROUP):
                result = self.record_subject(case, action=chosen, note=note, actor=user, excepted=mine)
                if group is not None:
                    self._decide_with(
                        group, case, action=chosen, note=note, user=user, now=now, excepted=excepted
                    )
                return result
            release = release_amount(chosen, case, amount=amount, clean=self._clean_share(case))
            return self._record(case, action=chosen, release=release, note=note, actor=user)
        except Exception:
            self.cases.reopen(case_id)
            raise

    def _decide_with(
        self,
        group: LinkedGroup,
        first: CaseRow,
        *,
        action: ReviewAction,
        note: str,
        user: Principal,
        now: datetime,
        excepted: list[str] | None,
    ) -> list[str]:
        """Record the same decision on a seller group's other open cases (each claimed first; one another
        reviewer holds or that is refused is left open); the ids decided."""
        done = []
        for other in group.others_open(first.case_id):
            theirs = [e for e in excepted or [] if e in group.members.get(other.case_id, set())]
            try:
                case = self.cases.claim(other.case_id, user=user, now=now)
            except ServiceError:
                continue
            try:
                self.record_subject(
                    case,
                    action=action,
                    note=f"{note} (decided with case {first.case_id}, seller group {group.group_id})",
                    actor=user,
                    excepted=theirs,
                )
                done.append(other.case_id)
            except ServiceError:
                self.cases.reopen(other.case_id)
        return done

    def bulk(
        self, case_ids: list[str], *, action: str, note: str, user: Principal, now: datetime
    ) -> list[BulkOutcome]:
        """Decide many cases alike; a partial release pays each case's clean share. Held cases are skipped."""
        outcomes = []
        self.recover_stuck(now=now, by=user, case_ids=list(case_ids))
        for case_id in dict.fromkeys(case_ids):
            claimed_here = False
            try:
                before = self.cases.get(case_id, now=now)
                if not self.cases.acquire(case_id, user=user, now=now):
                    raise Invalid(
                        f"held by {before.assignee_name or before.assignee}"
                        if before.status == CaseStatus.OPEN
                        else before.status
                    )
                was_mine = before.assignee == user.key_id and (before.locked_until or now) > now
                claimed_here = not was_mine
                amount = None
                if action == ReviewAction.PARTIAL_RELEASE:
                    amount = self.clean_share(before)
                result = self.decide(case_id, action=action, note=note, user=user, now=now, amount=amount)
                outcomes.append(BulkOutcome(case_id=case_id, result=result, error=""))
            except ServiceError as error:
                if claimed_here:  # a refused bulk action leaves no claim behind
                    self._give_back(case_id, user=user)
                outcomes.append(BulkOutcome(case_id=case_id, result=None, error=error.detail))
        return outcomes

    def _give_back(self, case_id: str, *, user: Principal) -> None:
        with contextlib.suppress(ServiceError):  # decided or no longer ours: nothing to give back
            self.cases.release(case_id, user=user)

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
                release = min(self.clean_share(case), case.at_stake) if case.kind == CaseKind.POST else _ZERO
                outcome = (
                    "clean share paid, rest held"
                    if case.kind == CaseKind.POST
                    else "nothing released, no label"
                )
                note = f"open at the settlement cutoff {case.cutoff_at.isoformat()}: {outcome}"
                done.append(
                    self._record(
                        case,
                        action=ReviewAction.DEADLINE_DEFAULT,
                        release=release,
                        note=note,
                        actor=DEADLINE,
                    )
                )
            except Exception:
                self.cases.reopen(case_id)
                raise
        return done

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
        if case.kind != CaseKind.POST:
            made = self.stored_cases.case_adjustments(case_id)
            adjustment = made[0] if made else None
        else:
            adjustment = self.settlements.adjustment_by_key(review_key(case_id))
        if adjustment is None:
            return self._reopen_stuck(case_id, now=now, by=by)
        parsed = parse_reason(case_id, adjustment.reason)
        if parsed is None:
            detail = f"adjustment {adjustment.id} under {review_key(case_id)} was not written by a decision"
            return Recovery(case_id=case_id, outcome="unresolved", detail=detail)
        action, note = parsed
        try:
            result = self._record_recovered(case, adjustment, action=action, note=note, by=by)
        except IntegrityError:
            return Recovery(case_id=case_id, outcome="skipped", detail="another process recorded it")
        return Recovery(case_id=case_id, outcome="decided", detail=f"{action} from {result.adjustment_id}")

    def _reopen_stuck(self, case_id: str, *, now: datetime, by: Principal) -> Recovery:
        """A stuck case no money moved for: open again (audited), unless it is no longer stuck."""
        if not self.cases.reopen(case_id, stuck_before=now - STUCK_AFTER):
            return Recovery(case_id=case_id, outcome="skipped", detail="no longer stuck")
        with self.audit_trail.session() as session:
            self.audit_trail.record(
                session,
                actor=by.key_id,
                role=by.role,
                action="review.reopen_stuck",
                target=f"case:{case_id}",
                detail={"reason": "deciding without an adjustment or a decision"},
            )
        return Recovery(case_id=case_id, outcome="reopened", detail="no money had moved")

    def _record_recovered(
        self, case: CaseRow, adjustment: Adjustment, *, action: ReviewAction, note: str, by: Principal
    ) -> DecisionResult:
        """Record a stuck case's decision from the adjustment it made, as its kind records one."""
        actor, decided_at = self._principal(adjustment.actor), as_utc(adjustment.created_at)
        if case.kind in (CaseKind.CREATOR, CaseKind.GROUP):
            text, excepted = split_exceptions(note)
            return self.record_subject(
                case,
                action=action,
                note=text,
                excepted=excepted,
                actor=actor,
                decided_at=decided_at,
                recovered_by=by,
            )
        if case.kind == CaseKind.ACCOUNT:  # finish its releases (the ones made replay), then record
            return self._record_account(
                case, action=action, note=note, actor=actor, decided_at=decided_at, recovered_by=by
            )
        return self._write_decision(
            case,
            action=action,
            release=adjustment.amount,
            adjustment_id=adjustment.id,
            note=note,
            actor=actor,
            decided_at=decided_at,
            recovered_by=by,
        )

    def decider_name(self, case_id: str) -> str:
        """Who decided a case, by name ('' while open): a reviewer's key name, the deadline, the policy."""
        decision = self.stored_cases.decision_of(case_id)
        if decision is None:
            return ""
        return self.name_of(decision.actor)

    def name_of(self, key_id: str) -> str:
        """A key's holder by name (the deadline and the policy by theirs; an unknown key by its id)."""
        if key_id == POLICY.key_id:
            return POLICY.name
        return self._principal(key_id).name

    def _principal(self, key_id: str) -> Principal:
        if key_id == DEADLINE.key_id:
            return DEADLINE
        key = self.keys.key(key_id)
        if key is None:
            return Principal(key_id=key_id, name=key_id, role=Role.REVIEWER)
        return Principal(key_id=key.id, name=key.name, role=Role(key.role))
