"""PUT /v1/campaigns/{campaign_id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from serving.api.deps import AnyKey, BillingKey, CampaignsDep
from serving.schemas import CampaignIn, CampaignOut

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
CampaignId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]


@router.put("/{campaign_id}")
def put_campaign(
    campaign_id: CampaignId, terms: CampaignIn, principal: BillingKey, campaigns: CampaignsDep
) -> CampaignOut:
    """Register or replace a campaign's platform, currency, unit prices and settlement window."""
    return campaigns.put(campaign_id, terms, actor=principal)


@router.get("/{campaign_id}")
def get_campaign(campaign_id: CampaignId, principal: AnyKey, campaigns: CampaignsDep) -> CampaignOut:
    """A registered campaign."""
    return campaigns.get(campaign_id)
