"""Opening review cases: per held post, per creator with money kept, per seller group and per flagged
engaging account of a settlement.

An account case whose clear releases nothing and whose money is below the policy threshold is
decided by policy when opened (no label, nothing moves; one audit row per settlement), except a
sample (a hash of its ids below the sample share) queued for label quality and marked so: an
``uncertain`` sample (share ``uncertain_share``) of those whose risk lies near the run's cut
(``detectors.policy.near_cut``), an ``audit`` sample (share ``sample_share``) of the others.
The uncertain sample also draws, at the same share, engaging accounts the run did not flag whose
risk lies near the cut (just under it): they have no money kept and no case unless drawn.
Each case keeps its kind and probability: its labels' ``sample`` and ``sampled_with_probability``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from detectors.policy import near_cut
from serving.auth import Principal, Role
from serving.config import ServiceConfig
from serving.db.audit import AuditRepository
from serving.db.campaigns import CampaignRepository
from serving.db.cases import CaseRepository
from serving.db.database import as_utc, utcnow
from serving.db.models import Campaign, ReviewCase, ReviewDecision, Settlement, SettlementPost
from serving.db.settlements import SettlementRepository
from serving.detection import DetectionService, to_decimal
from serving.review.account_cases import (
    SettlementVerdicts,
    account_stakes,
    case_post_id,
    settlement_verdicts,
    uncertain_unflagged,
)
from serving.review.subjects import (
    SellerGroup,
    creator_case_post_id,
    creator_stakes,
    group_case_post_id,
    seller_groups,
    settlement_lines,
)
from serving.statuses import CaseKind, CaseSample, CaseStatus, ReviewAction, SettlementStatus

log = logging.getLogger("cpeguard.review")


class CaseOpener:
    """Creates cases from held settlement lines and flagged accounts (each once)."""

    def __init__(
        self,
        *,
        stored_cases: CaseRepository,
        settlements: SettlementRepository,
        campaigns: CampaignRepository,
        audit_trail: AuditRepository,
        detection: DetectionService | None = None,
        policy: CasePolicy | None = None,
    ) -> None:
        self.stored_cases = stored_cases
        self.settlements = settlements
        self.campaigns = campaigns
        self.audit_trail = audit_trail
        self.detection = detection
        self.policy = policy or CasePolicy.default()
        self._scanned: set[str] = (
            set()
        )  # settlements whose flagged accounts have cases (verdicts never change)

    def sync(self) -> int:
        """Open a case for every held post and flagged engaging account that has none yet; how many."""
        return self._sync_posts() + self._sync_accounts()

    def _sync_posts(self) -> int:
        missing = self.stored_cases.missing_post_cases()
        by_settlement: dict[str, list[tuple[SettlementPost, Settlement, Campaign]]] = {}
        for line, settlement, campaign in missing:
            by_settlement.setdefault(settlement.id, []).append((line, settlement, campaign))
        created = 0
        for rows in by_settlement.values():
            reasons = _reasons_by_post(rows[0][1].body)
            try:
                self.stored_cases.add_cases(
                    _new_case(line, settlement, campaign, reasons.get(line.post_id, []))
                    for line, settlement, campaign in rows
                )
                created += len(rows)
            except IntegrityError:
                continue  # another process opened these cases at the same moment
        return created

    def _sync_accounts(self) -> int:
        """Creator, group and account cases of each settlement with a detection run (once)."""
        if self.detection is None:
            return 0
        pending, scanned = self.stored_cases.account_case_candidates()
        self._scanned |= scanned
        created = 0
        for settlement, campaign in pending:
            if settlement.id in self._scanned:
                continue
            try:
                verdicts = settlement_verdicts(
                    settlement.id,
                    settlements=self.settlements,
                    campaigns=self.campaigns,
                    detection=self.detection,
                )
            except Exception:  # unreadable verdicts: its post cases still show everything held
                log.exception("cannot read the verdicts of settlement %s for account cases", settlement.id)
                self._scanned.add(settlement.id)
                continue
            cases = [] if verdicts is None else self._settlement_cases(verdicts, settlement, campaign)
            decided = [c for c in cases if c.status == CaseStatus.DECIDED]
            try:
                self.stored_cases.add_cases(cases, decisions=[_policy_decision(c) for c in decided])
                created += len(cases) - len(decided)
                if decided:
                    self._audit_policy(settlement.id, decided, queued=[c for c in cases if c.is_sample])
            except IntegrityError:
                pass  # another process opened them at the same moment
            self._scanned.add(settlement.id)
        return created

    def _settlement_cases(
        self, verdicts: SettlementVerdicts, settlement: Settlement, campaign: Campaign
    ) -> list[ReviewCase]:
        """A settlement's creator, group and account cases; account cases policy decides come decided."""
        creators = creator_stakes(settlement_lines(settlement.body))
        cases = [_creator_case(row, settlement, campaign) for row in creators.itertuples(index=False)]
        cases += [_group_case(group, settlement, campaign) for group in seller_groups(verdicts)]
        stakes = account_stakes(verdicts)
        releasable = stakes["releasable"].to_numpy(dtype="float64")
        at_stake = stakes["at_stake"].to_numpy(dtype="float64")
        uncertain = near_cut(stakes["risk"].to_numpy(dtype="float64"), verdicts.invalid_risk)
        for i, row in enumerate(stakes.itertuples(index=False)):
            case = _account_case(row, settlement, campaign)
            if releasable[i] <= 0 and at_stake[i] < self.policy.auto_decide_below:
                kind, share = self.policy.stratum(uncertain=bool(uncertain[i]))
                if is_sampled(settlement.id, str(row.account_id), share=share):
                    case.is_sample, case.sample, case.sampled_with_probability = True, kind, share
                else:
                    case.status, case.decided_at = CaseStatus.DECIDED, case.created_at
            cases.append(case)
        return cases + self._unflagged_samples(verdicts, settlement, campaign)

    def _unflagged_samples(
        self, verdicts: SettlementVerdicts, settlement: Settlement, campaign: Campaign
    ) -> list[ReviewCase]:
        """Uncertain-sample cases of engaging accounts the run did not flag whose risk lies near the
        cut: no money of theirs is kept (a label only); those not drawn need no case."""
        if self.policy.uncertain_share <= 0:
            return []
        share, out = self.policy.uncertain_share, []
        for row in uncertain_unflagged(verdicts).itertuples(index=False):
            if is_sampled(settlement.id, str(row.account_id), share=share):
                case = _account_case(row, settlement, campaign)
                case.is_sample, case.sample, case.sampled_with_probability = True, CaseSample.UNCERTAIN, share
                out.append(case)
        return out

    def _audit_policy(
        self, settlement_id: str, decided: list[ReviewCase], *, queued: list[ReviewCase]
    ) -> None:
        with self.audit_trail.session() as session:
            self.audit_trail.record(
                session,
                actor=POLICY.key_id,
                role=POLICY.role,
                action=f"review.{ReviewAction.POLICY_DEFAULT}",
                target=settlement_id,
                detail={
                    "cases": len(decided),
                    "queued_as_sample": len(queued),
                    "queued_as_uncertain": sum(c.sample == CaseSample.UNCERTAIN for c in queued),
                    "auto_decide_below": self.policy.auto_decide_below,
                    "sample_share": self.policy.sample_share,
                    "uncertain_share": self.policy.uncertain_share,
                    "held_money": str(sum((c.held_amount for c in decided), Decimal("0.00"))),
                },
            )


@dataclass(frozen=True)
class CasePolicy:
    """Which account cases policy decides instead of a reviewer, and how many of them are queued anyway."""

    auto_decide_below: float  # ServiceConfig.review_auto_decide_below
    sample_share: float  # ServiceConfig.review_sample_share
    uncertain_share: float  # ServiceConfig.review_uncertain_share

    @classmethod
    def of(cls, config: ServiceConfig) -> CasePolicy:
        """The policy a service configuration sets."""
        return cls(
            auto_decide_below=config.review_auto_decide_below,
            sample_share=config.review_sample_share,
            uncertain_share=config.review_uncertain_share,
        )

    @classmethod
    def default(cls) -> CasePolicy:
        """The policy of ``ServiceConfig``'s defaults (declared there, once)."""
        given: dict[str, Any] = {f.name: f.default for f in fields(ServiceConfig)}
        return cls(
            auto_decide_below=given["review_auto_decide_below"],
            sample_share=given["review_sample_share"],
            uncertain_share=given["review_uncertain_share"],
        )

    def stratum(self, *, uncertain: bool) -> tuple[CaseSample, float]:
        """The sample a policy-decided case may be queued in, and its share: the two strata do not
        overlap, so each share is the exact probability its cases reached a reviewer."""
        if uncertain and self.uncertain_share > 0:
            return CaseSample.UNCERTAIN, self.uncertain_share
        return CaseSample.AUDIT, self.sample_share


POLICY = Principal(key_id="policy", name="case policy", role=Role.ADMIN)


def is_sampled(settlement_id: str, account_id: str, *, share: float) -> bool:
    """Whether a policy-decided case is queued anyway: a uniform draw from its ids' hash below ``share``."""
    digest = hashlib.sha256(f"{settlement_id}\x1f{account_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _policy_decision(case: ReviewCase) -> ReviewDecision:
    return ReviewDecision(
        id=f"dec_{uuid.uuid4().hex}",
        case_id=case.id,
        settlement_id=case.settlement_id,
        post_id=case.post_id,
        action=ReviewAction.POLICY_DEFAULT,
        released=Decimal("0.00"),
        adjustment_id=None,
        note=f"policy: clearing releases nothing and {case.held_amount} is below the review threshold",
        is_deadline=False,
        actor=POLICY.key_id,
        decided_at=case.created_at,
    )


def _new_case(
    line: SettlementPost, settlement: Settlement, campaign: Campaign, reasons: list[str]
) -> ReviewCase:
    return ReviewCase(
        id=f"case_{uuid.uuid4().hex[:20]}",
        settlement_id=settlement.id,
        post_id=line.post_id,
        campaign_id=settlement.campaign_id,
        platform=campaign.platform,
        creator_id=line.creator_id,
        held_amount=line.held_amount,
        reasons=";" + ";".join(reasons) + ";" if reasons else "",
        needs_signoff=settlement.status == SettlementStatus.NEEDS_SIGNOFF,
        cutoff_at=as_utc(campaign.window_end),
        status=CaseStatus.OPEN,
        created_at=utcnow(),
    )


def _account_case(row: Any, settlement: Settlement, campaign: Campaign) -> ReviewCase:
    reasons = [r for r in str(row.reasons).split(";") if r]
    return ReviewCase(
        id=f"case_{uuid.uuid4().hex[:20]}",
        settlement_id=settlement.id,
        post_id=case_post_id(str(row.account_id)),
        kind=CaseKind.ACCOUNT,
        account_id=str(row.account_id),
        campaign_id=settlement.campaign_id,
        platform=campaign.platform,
        creator_id="",  # an account engages posts of several creators
        held_amount=to_decimal(row.at_stake),
        reasons=";" + ";".join(reasons) + ";" if reasons else "",
        needs_signoff=settlement.status == SettlementStatus.NEEDS_SIGNOFF,
        cutoff_at=as_utc(campaign.window_end),
        status=CaseStatus.OPEN,
        created_at=utcnow(),
    )


def _reasons_by_post(body: str) -> dict[str, list[str]]:
    try:
        posts = json.loads(body).get("posts", [])
    except ValueError:
        return {}
    return {str(p.get("post_id")): [str(r) for r in p.get("reasons", [])] for p in posts}


def _subject_case(settlement: Settlement, campaign: Campaign, **fields: Any) -> ReviewCase:
    return ReviewCase(
        id=f"case_{uuid.uuid4().hex[:20]}",
        settlement_id=settlement.id,
        campaign_id=settlement.campaign_id,
        platform=campaign.platform,
        needs_signoff=settlement.status == SettlementStatus.NEEDS_SIGNOFF,
        cutoff_at=as_utc(campaign.window_end),
        status=CaseStatus.OPEN,
        created_at=utcnow(),
        **fields,
    )


def _creator_case(row: Any, settlement: Settlement, campaign: Campaign) -> ReviewCase:
    reasons = [r for r in str(row.reasons).split(";") if r]
    return _subject_case(
        settlement,
        campaign,
        post_id=creator_case_post_id(str(row.creator_id)),
        kind=CaseKind.CREATOR,
        account_id=None,
        creator_id=str(row.creator_id),
        held_amount=to_decimal(row.at_stake),
        reasons=";" + ";".join(reasons) + ";" if reasons else "",
    )


def _group_case(group: SellerGroup, settlement: Settlement, campaign: Campaign) -> ReviewCase:
    return _subject_case(
        settlement,
        campaign,
        post_id=group_case_post_id(group.key),
        kind=CaseKind.GROUP,
        account_id=None,
        creator_id="",
        held_amount=to_decimal(group.money),
        reasons=f";{group.reason};",
    )
