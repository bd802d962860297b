"""PUT /v1/campaigns/{campaign_id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from features.columns import ID_MAX_LENGTH
from serving.api.deps import AnyKey, BillingKey, CampaignsDep
from serving.schemas import ID_PATTERN, CampaignIn, CampaignOut, problems

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
CampaignId = Annotated[str, Path(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]


@router.put("/{campaign_id}", responses=problems(401, 403, 422, 503))
def put_campaign(
    campaign_id: CampaignId, terms: CampaignIn, principal: BillingKey, campaigns: CampaignsDep
) -> CampaignOut:
    """Register or replace a campaign's platform, currency, unit prices and settlement window."""
    return campaigns.put(campaign_id, terms, actor=principal)


@router.get("/{campaign_id}", responses=problems(401, 404, 422, 503))
def get_campaign(campaign_id: CampaignId, principal: AnyKey, campaigns: CampaignsDep) -> CampaignOut:
    """A registered campaign."""
    return campaigns.get(campaign_id)
