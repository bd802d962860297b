"""Liveness, readiness and Prometheus metrics (no key needed)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serving.api.deps import ConfigDep, DatabaseDep, DetectionDep, MetricsDep, StoreDep
from serving.schemas import problems

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        503: {
            "description": "a dependency is down: the same checks, the failing ones unavailable, and "
            "`problems` naming what is wrong (a missing or corrupt store file, no model)"
        }
    },
)
def readyz(database: DatabaseDep, store: StoreDep, detection: DetectionDep) -> JSONResponse:
    """Database answers, the event store is writable and every published file matches its manifest
    (rows, size, checksum), and a scorer is active to decide with."""
    problems: list[str] = []
    if not database.ping():
        problems.append("database: not answering")
    if not store.is_reachable():
        problems.append("event_store: folder cannot be written")
    problems.extend(f"event_store: {what}" for what in store.verify())
    if detection.active is None:
        problems.append("model: no scorer is active yet")
    failing = {problem.split(":", 1)[0] for problem in problems}
    body: dict[str, object] = {
        name: "unavailable" if name in failing else "ok" for name in ("database", "event_store", "model")
    }
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=503 if problems else 200)


_metrics_bearer = HTTPBearer(
    auto_error=False, scheme_name="MetricsToken", description="CPEGUARD_METRICS_TOKEN, when it is set"
)


def _metrics_allowed(
    config: ConfigDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_metrics_bearer)],
) -> None:
    """Nothing when /metrics is open or the token matches; 401 otherwise."""
    token = config.metrics_token
    if token is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "send Authorization: Bearer METRICS_TOKEN", {"WWW-Authenticate": "Bearer"})


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(_metrics_allowed)],
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "exposition"},
        **problems(401, c401="a metrics token is set and was not sent"),
    },
)
def metrics(prometheus: MetricsDep) -> Response:
    """Prometheus metrics: request latency, decisions by outcome, money held and withheld per currency."""
    return Response(prometheus.exposition(), media_type="text/plain; version=0.0.4")
