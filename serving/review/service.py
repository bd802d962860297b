"""The review console's services, built once at startup from the settlement services."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from serving.api.deps import Services
from serving.corrections import CorrectionService
from serving.db.repository import Repository
from serving.review.cases import CaseService
from serving.review.decisions import DecisionService
from serving.review.sessions import SessionStore
from serving.store import EventStore


@dataclass(frozen=True)
class ReviewServices:
    """Sessions, cases and decisions, and the settlement services the pages read beside them."""

    sessions: SessionStore
    cases: CaseService
    decisions: DecisionService
    corrections: CorrectionService
    store: EventStore
    repository: Repository


def build_review(services: Services) -> ReviewServices:
    """Wire the review services onto the settlement services (the same correction service as the API)."""
    cases = CaseService(repository=services.repository, detection=services.detection)
    return ReviewServices(
        sessions=SessionStore(repository=services.repository, keys=services.keys),
        cases=cases,
        decisions=DecisionService(
            repository=services.repository,
            cases=cases,
            corrections=services.corrections,
            detection=services.detection,
        ),
        corrections=services.corrections,
        store=services.store,
        repository=services.repository,
    )


def get_review(request: Request) -> ReviewServices:
    """The app's review services (built by the lifespan with the others)."""
    review: ReviewServices = request.app.state.review
    return review
