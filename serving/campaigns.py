"""Campaign registration: platform, currency, unit prices, settlement window."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from serving.auth import Principal
from serving.db.audit import AuditRepository
from serving.db.campaigns import CampaignRepository
from serving.db.database import as_utc, utcnow
from serving.db.models import Campaign
from serving.errors import NotFound
from serving.schemas import CampaignIn, CampaignOut


class CampaignService:
    """Creates or replaces a campaign's terms (settlements already made keep the terms they used)."""

    def __init__(self, *, campaigns: CampaignRepository, audit_trail: AuditRepository) -> None:
        self.campaigns = campaigns
        self.audit_trail = audit_trail

    def put(self, campaign_id: str, terms: CampaignIn, *, actor: Principal) -> CampaignOut:
        """Create or replace a campaign."""
        values = terms.model_dump()
        values["window_start"] = as_utc(terms.window_start)
        values["window_end"] = as_utc(terms.window_end)
        with self.campaigns.session() as session:
            row = self.campaigns.campaign_in(session, campaign_id)
            if row is None:
                row = Campaign(campaign_id=campaign_id, updated_at=utcnow(), **values)
                session.add(row)
            else:
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = utcnow()
            self.audit_trail.record(
                session,
                actor=actor.key_id,
                role=actor.role,
                action="campaign.put",
                target=f"campaign:{campaign_id}",
                detail={k: str(v) for k, v in values.items()},
            )
        return _out(row)

    def get(self, campaign_id: str) -> CampaignOut:
        """One campaign."""
        row = self.campaigns.campaign(campaign_id)
        if row is None:
            raise NotFound(f"no campaign {campaign_id!r}")
        return _out(row)


def _out(row: Campaign) -> CampaignOut:
    return CampaignOut(
        campaign_id=row.campaign_id,
        platform=row.platform,
        currency=row.currency,
        price_like=row.price_like,
        price_favorite=row.price_favorite,
        price_comment=row.price_comment,
        price_share=row.price_share,
        window_start=as_utc(row.window_start),
        window_end=as_utc(row.window_end),
    )


def campaigns_frame(campaigns: Iterable[Campaign]) -> pd.DataFrame:
    """Campaign rows as the scorer's campaigns frame."""
    rows = [
        {
            "campaign_id": c.campaign_id,
            "currency": c.currency,
            "price_like": float(c.price_like),
            "price_favorite": float(c.price_favorite),
            "price_comment": float(c.price_comment),
            "price_share": float(c.price_share),
        }
        for c in campaigns
    ]
    columns = ["campaign_id", "currency", "price_like", "price_favorite", "price_comment", "price_share"]
    return pd.DataFrame(rows, columns=columns)
