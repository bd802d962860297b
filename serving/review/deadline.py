"""The settlement deadline: open cases past their cutoff take the default (clean share paid, rest held)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from serving.app import build_services
from serving.config import ServiceConfig
from serving.metrics import Metrics
from serving.review.outcomes import DecisionResult
from serving.review.service import build_review


def run_deadline(config: ServiceConfig, *, now: datetime) -> list[DecisionResult]:
    """Open cases for new held posts, then decide every open case whose cutoff is at or before ``now``."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deadline")
    services = build_services(config, executor=executor, metrics=Metrics())
    try:
        review = build_review(services)
        review.cases.sync()
        return review.decisions.decide_overdue(now=now)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        try:
            services.audit.close()
        finally:
            services.db.database.engine.dispose()
