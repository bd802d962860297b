"""The review console's services, built once per app from the settlement services."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from fastapi import Request

from serving.api.deps import Services
from serving.review.cases import CaseService
from serving.review.decisions import DecisionService
from serving.review.sessions import SessionStore

_build_lock = threading.Lock()


@dataclass(frozen=True)
class ReviewServices:
    """Sessions, cases and decisions, plus the settlement services they sit on."""

    services: Services
    sessions: SessionStore
    cases: CaseService
    decisions: DecisionService


def build_review(services: Services) -> ReviewServices:
    """Wire the review services onto the settlement services (the same correction service as the API)."""
    cases = CaseService(repository=services.repository, detection=services.detection)
    return ReviewServices(
        services=services,
        sessions=SessionStore(repository=services.repository, keys=services.keys),
        cases=cases,
        decisions=DecisionService(
            repository=services.repository,
            cases=cases,
            corrections=services.corrections,
            detection=services.detection,
        ),
    )


def get_review(request: Request) -> ReviewServices:
    """The app's review services, built on first use from ``app.state.services``."""
    state = request.app.state
    review: ReviewServices | None = getattr(state, "review", None)
    if review is None or review.services is not state.services:
        with _build_lock:
            review = getattr(state, "review", None)
            if review is None or review.services is not state.services:
                review = build_review(state.services)
                state.review = review
    return review
