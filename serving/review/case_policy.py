"""Which account cases policy decides instead of a reviewer, and which of those are queued anyway as
label-quality samples (``serving.review.opening`` opens them)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from serving.auth import Principal, Role
from serving.config import ServiceConfig
from serving.db.models import ReviewCase, ReviewDecision
from serving.statuses import CaseSample, ReviewAction


@dataclass(frozen=True)
class CasePolicy:
    """Which account cases policy decides instead of a reviewer, and how many of them are queued anyway."""

    auto_decide_below: float  # ServiceConfig.review_auto_decide_below
    sample_share: float  # ServiceConfig.review_sample_share
    uncertain_share: float  # ServiceConfig.review_uncertain_share
    group_overlap: float  # ServiceConfig.review_group_overlap

    @classmethod
    def of(cls, config: ServiceConfig) -> CasePolicy:
        """The policy a service configuration sets."""
        return cls(
            auto_decide_below=config.review_auto_decide_below,
            sample_share=config.review_sample_share,
            uncertain_share=config.review_uncertain_share,
            group_overlap=config.review_group_overlap,
        )

    @classmethod
    def default(cls) -> CasePolicy:
        """The policy of ``ServiceConfig``'s defaults (declared there, once)."""
        given: dict[str, Any] = {f.name: f.default for f in fields(ServiceConfig)}
        return cls(
            auto_decide_below=given["review_auto_decide_below"],
            sample_share=given["review_sample_share"],
            uncertain_share=given["review_uncertain_share"],
            group_overlap=given["review_group_overlap"],
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


def policy_decision(case: ReviewCase) -> ReviewDecision:
    """The decision policy records on an account case it decides as opened (nothing released)."""
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
