"""The review console's services, built once at startup from the settlement services."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from serving.api.deps import Services
from serving.corrections import CorrectionService
from serving.review.cases import CaseService
from serving.review.decisions import DecisionService
from serving.review.disputes import DisputeService
from serving.review.opening import CasePolicy
from serving.review.sessions import SessionStore
from serving.store import EventStore


@dataclass(frozen=True)
class ReviewServices:
    """Sessions, cases and decisions, and the settlement services the pages read beside them."""

    sessions: SessionStore
    cases: CaseService
    decisions: DecisionService
    disputes: DisputeService
    corrections: CorrectionService
    store: EventStore


def build_review(services: Services) -> ReviewServices:
    """Wire the review services onto the settlement services (the same correction service as the API)."""
    db = services.db
    cases = CaseService(
        stored_cases=db.cases,
        settlements=db.settlements,
        campaigns=db.campaigns,
        audit_trail=db.audit,
        detection=services.detection,
        policy=CasePolicy.of(services.config),
    )
    return ReviewServices(
        sessions=SessionStore(review_sessions=db.review_sessions, audit_trail=db.audit, keys=services.keys),
        cases=cases,
        decisions=DecisionService(
            stored_cases=db.cases,
            settlements=db.settlements,
            campaigns=db.campaigns,
            keys=db.keys,
            audit_trail=db.audit,
            cases=cases,
            corrections=services.corrections,
            detection=services.detection,
        ),
        disputes=DisputeService(
            disputes=db.disputes, settlements=db.settlements, cases=cases, audit_trail=db.audit
        ),
        corrections=services.corrections,
        store=services.store,
    )


def get_review(request: Request) -> ReviewServices:
    """The app's review services (built by the lifespan with the others)."""
    review: ReviewServices = request.app.state.review
    return review
