"""Every repository over one database, built once at start-up and handed out one by one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from serving.db.audit import AuditRepository
from serving.db.campaigns import CampaignRepository
from serving.db.cases import CaseRepository
from serving.db.database import Database
from serving.db.disputes import DisputeRepository
from serving.db.events import EventRepository
from serving.db.keys import KeyRepository
from serving.db.reputation import ReputationRepository
from serving.db.requests import RequestRepository
from serving.db.review_sessions import ReviewSessionRepository
from serving.db.runs import RunRepository
from serving.db.settlements import SettlementRepository


@dataclass(frozen=True)
class Repositories:
    """One repository per entity, sharing one database (so one transaction can span several)."""

    database: Database
    events: EventRepository
    runs: RunRepository
    settlements: SettlementRepository
    requests: RequestRepository
    campaigns: CampaignRepository
    keys: KeyRepository
    audit: AuditRepository
    cases: CaseRepository
    review_sessions: ReviewSessionRepository
    reputation: ReputationRepository
    disputes: DisputeRepository

    @classmethod
    def over(cls, engine: Engine) -> Repositories:
        """The repositories of the database ``engine`` reaches."""
        db = Database(engine)
        return cls(
            database=db,
            events=EventRepository(db),
            runs=RunRepository(db),
            settlements=SettlementRepository(db),
            requests=RequestRepository(db),
            campaigns=CampaignRepository(db),
            keys=KeyRepository(db),
            audit=AuditRepository(db),
            cases=CaseRepository(db),
            review_sessions=ReviewSessionRepository(db),
            reputation=ReputationRepository(db),
            disputes=DisputeRepository(db),
        )
