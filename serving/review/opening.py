"""Opening review cases: one per held post and per flagged engaging account of a settlement."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from serving.db.audit import AuditRepository
from serving.db.campaigns import CampaignRepository
from serving.db.cases import CaseRepository
from serving.db.database import as_utc, utcnow
from serving.db.models import Campaign, ReviewCase, Settlement, SettlementPost
from serving.db.settlements import SettlementRepository
from serving.detection import DetectionService, to_decimal
from serving.review.account_cases import account_stakes, case_post_id, settlement_verdicts
from serving.statuses import CaseKind, CaseStatus, SettlementStatus

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
    ) -> None:
        self.stored_cases = stored_cases
        self.settlements = settlements
        self.campaigns = campaigns
        self.audit_trail = audit_trail
        self.detection = detection
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
        """One case per flagged engaging account of each settlement with a detection run (once)."""
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
            stakes = account_stakes(verdicts) if verdicts is not None else None
            try:
                self.stored_cases.add_cases(
                    _account_case(row, settlement, campaign)
                    for row in ([] if stakes is None else stakes.itertuples(index=False))
                )
                created += 0 if stakes is None else len(stakes)
            except IntegrityError:
                pass  # another process opened them at the same moment
            self._scanned.add(settlement.id)
        return created


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
