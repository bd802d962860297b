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

import json
import logging
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError

from detectors.policy import near_cut
from serving.db.audit import AuditRepository
from serving.db.campaigns import CampaignRepository
from serving.db.cases import CaseRepository
from serving.db.database import as_utc, utcnow
from serving.db.models import (
    Campaign,
    ReviewCase,
    ReviewCasePost,
    ReviewGroupLink,
    Settlement,
    SettlementPost,
)
from serving.db.settlements import SettlementRepository
from serving.detection import DetectionService, to_decimal
from serving.review.account_cases import (
    SettlementVerdicts,
    account_stakes,
    case_post_id,
    settlement_verdicts,
    uncertain_unflagged,
)
from serving.review.case_money import (
    account_case_money,
    creator_case_money,
    group_case_money,
    post_case_money,
)
from serving.review.case_policy import POLICY, CasePolicy, is_sampled, policy_decision
from serving.review.groups import GroupIndex
from serving.review.subjects import (
    GROUP_PREFIX,
    SellerGroup,
    creator_case_post_id,
    creator_stakes,
    group_by_key,
    group_case_post_id,
    seller_groups,
    settlement_lines,
)
from serving.statuses import CaseKind, CaseSample, CaseStatus, ReviewAction, SettlementStatus

# re-exported: the review service, decisions and tests import them from here
__all__ = ["POLICY", "CaseOpener", "CasePolicy", "is_sampled"]

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
        # settlements whose flagged accounts have cases (verdicts never change)
        self._scanned: set[str] = set()
        self.known_groups = GroupIndex.of([])
        self._money_filled = False

    def sync(self) -> int:
        """Open a case for every held post and flagged engaging account that has none yet; how many.

        Once per process, cases opened before their money per post was recorded get it (a backfill).
        """
        created = self._sync_posts() + self._sync_accounts()
        if not self._money_filled:
            self._fill_money()
            self._money_filled = True
        return created

    def _fill_money(self) -> None:
        """Record the money per post of older cases (and link older group cases), settlement by settlement."""
        by_settlement: dict[str, list[ReviewCase]] = {}
        for case in self.stored_cases.cases_without_money():
            by_settlement.setdefault(case.settlement_id, []).append(case)
        if by_settlement:
            self.known_groups = GroupIndex.of(self.stored_cases.group_links())
        for settlement_id, cases in by_settlement.items():
            try:
                rows = self._money_of(settlement_id, cases)
                self.stored_cases.add_beside(rows)
            except IntegrityError:
                continue  # another process filled them at the same moment
            except Exception:  # unreadable verdicts: these cases keep their money when opened
                log.exception("cannot record the money per post of settlement %s's cases", settlement_id)

    def _money_of(
        self, settlement_id: str, cases: list[ReviewCase]
    ) -> list[ReviewCasePost | ReviewGroupLink]:
        settlement = self.settlements.settlement(settlement_id)
        if settlement is None:
            return []
        lines = settlement_lines(settlement.body).set_index("post_id")
        rows: list[ReviewCasePost | ReviewGroupLink] = []
        for case in cases:
            if case.kind == CaseKind.POST:
                rows += post_case_money(case, lines)
            elif case.kind == CaseKind.CREATOR:
                rows += creator_case_money(case, lines)
        if self.detection is None or all(c.kind in (CaseKind.POST, CaseKind.CREATOR) for c in cases):
            return rows
        verdicts = settlement_verdicts(
            settlement_id, settlements=self.settlements, campaigns=self.campaigns, detection=self.detection
        )
        if verdicts is None:
            return rows
        rows += account_case_money(cases, verdicts, lines)
        for case in (c for c in cases if c.kind == CaseKind.GROUP):
            group = group_by_key(verdicts, case.post_id.removeprefix(GROUP_PREFIX))
            if group is not None:
                rows += group_case_money(case, verdicts, group, lines)
                if self.stored_cases.group_of_case(case.id) is None:
                    rows.append(
                        self.known_groups.link(case, group.members, overlap=self.policy.group_overlap)
                    )
        return rows

    def _sync_posts(self) -> int:
        missing = self.stored_cases.missing_post_cases()
        by_settlement: dict[str, list[tuple[SettlementPost, Settlement, Campaign]]] = {}
        for line, settlement, campaign in missing:
            by_settlement.setdefault(settlement.id, []).append((line, settlement, campaign))
        created = 0
        for rows in by_settlement.values():
            reasons = _reasons_by_post(rows[0][1].body)
            lines = settlement_lines(rows[0][1].body).set_index("post_id")
            cases = [
                _new_case(line, settlement, campaign, reasons.get(line.post_id, []))
                for line, settlement, campaign in rows
            ]
            try:
                self.stored_cases.add_cases(
                    cases, beside=[p for c in cases for p in post_case_money(c, lines)]
                )
                created += len(rows)
            except IntegrityError:
                continue  # another process opened these cases at the same moment
        return created

    def _sync_accounts(self) -> int:
        """Creator, group and account cases of each settlement with a detection run (once)."""
        if self.detection is None:
            return 0
        pending, kinds = self.stored_cases.account_case_candidates()
        # a settlement with creator or group cases is done; one with account cases only was opened
        # before creator and group cases existed: those are opened now (its account cases kept)
        self._scanned |= {s for s, k in kinds.items() if k & {CaseKind.CREATOR, CaseKind.GROUP}}
        if any(s.id not in self._scanned for s, _ in pending):
            self.known_groups = GroupIndex.of(self.stored_cases.group_links())
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
            cases: list[ReviewCase] = []
            beside: list[ReviewCasePost | ReviewGroupLink] = []
            if verdicts is not None:
                cases, beside = self._settlement_cases(verdicts, settlement, campaign)
            if CaseKind.ACCOUNT in kinds.get(settlement.id, set()):
                cases, beside = _without_accounts(cases, beside)
            decided = [c for c in cases if c.status == CaseStatus.DECIDED]
            try:
                self.stored_cases.add_cases(
                    cases, decisions=[policy_decision(c) for c in decided], beside=beside
                )
                created += len(cases) - len(decided)
                if decided:
                    self._audit_policy(settlement.id, decided, queued=[c for c in cases if c.is_sample])
            except IntegrityError:
                pass  # another process opened them at the same moment
            self._scanned.add(settlement.id)
        return created

    def _settlement_cases(
        self, verdicts: SettlementVerdicts, settlement: Settlement, campaign: Campaign
    ) -> tuple[list[ReviewCase], list[ReviewCasePost | ReviewGroupLink]]:
        """A settlement's creator, group and account cases (account cases policy decides come decided),
        and their money per post and group links."""
        lines = settlement_lines(settlement.body)
        by_post = lines.set_index("post_id")
        creators = creator_stakes(lines)
        cases = [_creator_case(row, settlement, campaign) for row in creators.itertuples(index=False)]
        beside: list[ReviewCasePost | ReviewGroupLink] = [
            p for c in cases for p in creator_case_money(c, by_post)
        ]
        for group in seller_groups(verdicts):
            case = _group_case(group, settlement, campaign)
            cases.append(case)
            beside += group_case_money(case, verdicts, group, by_post)
            beside.append(self.known_groups.link(case, group.members, overlap=self.policy.group_overlap))
        accounts = self._account_cases(verdicts, settlement, campaign)
        beside += account_case_money(accounts, verdicts, by_post)
        return cases + accounts, beside

    def _account_cases(
        self, verdicts: SettlementVerdicts, settlement: Settlement, campaign: Campaign
    ) -> list[ReviewCase]:
        """A settlement's account cases; those policy decides come decided (a sample stays queued)."""
        cases: list[ReviewCase] = []
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


def _without_accounts(
    cases: list[ReviewCase], beside: list[ReviewCasePost | ReviewGroupLink]
) -> tuple[list[ReviewCase], list[ReviewCasePost | ReviewGroupLink]]:
    """A settlement's new cases but its account cases (an older settlement that has them)."""
    kept = [c for c in cases if c.kind != CaseKind.ACCOUNT]
    ids = {c.id for c in kept}
    return kept, [b for b in beside if b.case_id in ids]


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
