"""Campaigns: their terms (platform, currency, unit prices, settlement window)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.db.database import Repository
from serving.db.models import Campaign


class CampaignRepository(Repository):
    """Queries of the campaigns."""

    def campaign(self, campaign_id: str) -> Campaign | None:
        """One campaign."""
        with self.session() as session:
            return session.get(Campaign, campaign_id)

    def campaign_in(self, session: Session, campaign_id: str) -> Campaign | None:
        """One campaign, read in the caller's transaction (to be replaced there)."""
        return session.get(Campaign, campaign_id)

    def campaigns(self) -> Sequence[Campaign]:
        """All campaigns."""
        with self.session() as session:
            return session.scalars(select(Campaign).order_by(Campaign.campaign_id)).all()
