"""Liveness, readiness and Prometheus metrics (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from serving.api.deps import DatabaseDep, DetectionDep, MetricsDep, StoreDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is down"}})
def readyz(database: DatabaseDep, store: StoreDep, detection: DetectionDep) -> JSONResponse:
    """Database and event store are reachable, and a scorer is active to decide with."""
    checks = {
        "database": database.ping(),
        "event_store": store.is_reachable(),
        "model": detection.active is not None,
    }
    body = {name: "ok" if ok else "unavailable" for name, ok in checks.items()}
    return JSONResponse(body, status_code=200 if all(checks.values()) else 503)


@router.get("/metrics", response_class=Response)
def metrics(prometheus: MetricsDep) -> Response:
    """Prometheus metrics: request latency, decisions by outcome, money held."""
    return Response(prometheus.exposition(), media_type="text/plain; version=0.0.4")
