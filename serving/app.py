"""The FastAPI app: ``create_app(config)`` with a lifespan that migrates, loads and wires services."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.accounts import AccountService
from serving.api import accounts, campaigns, detections, events, health, settlements
from serving.api.deps import Services
from serving.campaigns import CampaignService
from serving.config import ServiceConfig
from serving.db.engine import make_engine, migrate
from serving.db.repository import Repository
from serving.detection import DetectionService
from serving.errors import ServiceError
from serving.ingest import IngestService
from serving.keys import KeyService
from serving.metrics import Metrics
from serving.model import ScoreFn, WindowModel
from serving.schemas import EventsBatch
from serving.settlement import SettlementService
from serving.store import EventStore


def build_services(
    config: ServiceConfig, *, executor: ThreadPoolExecutor, metrics: Metrics, score_fn: ScoreFn | None = None
) -> Services:
    """Migrate the database and wire every service with its collaborators."""
    config.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.resolved_database_url)
    migrate(engine)
    repository = Repository(engine)
    store = EventStore(config.events_dir)
    model = WindowModel(params=config.params, version=config.model_version, score_fn=score_fn)
    detection = DetectionService(
        repository=repository,
        store=store,
        model=model,
        runs_dir=config.runs_dir,
        executor=executor,
        sync_max_events=config.sync_detection_max_events,
    )
    return Services(
        config=config,
        repository=repository,
        store=store,
        model=model,
        metrics=metrics,
        keys=KeyService(repository=repository),
        campaigns=CampaignService(repository=repository),
        ingest=IngestService(repository=repository, store=store, max_batch_events=config.max_batch_events),
        detection=detection,
        settlements=SettlementService(
            repository=repository,
            store=store,
            detection=detection,
            signoff_withheld_share=config.signoff_withheld_share,
            metrics=metrics,
        ),
        accounts=AccountService(repository=repository, detection=detection),
    )


def create_app(config: ServiceConfig, *, score_fn: ScoreFn | None = None) -> FastAPI:
    """The settlement API; ``score_fn`` replaces the window scorer (tests of the fail-safe path)."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detection")
        services = build_services(config, executor=executor, metrics=metrics, score_fn=score_fn)
        app.state.services = services
        try:
            yield
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            services.repository.engine.dispose()

    app = FastAPI(
        title="cpeguard settlement API",
        version="1.0.0",
        description="Per post: pay, discount or hold, with reasons, exactly once, with an audit trail.",
        lifespan=lifespan,
    )
    for module in (health, campaigns, events, detections, settlements, accounts):
        app.include_router(module.router)
    _install_error_handlers(app)
    app.add_middleware(_LimitsAndMetrics, max_body_bytes=config.max_body_bytes, metrics=metrics)
    _document_events_batch(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def service_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ServiceError)
        return JSONResponse({"detail": error.detail}, status_code=error.status_code)

    async def database_error(_request: Request, _error: Exception) -> JSONResponse:
        return JSONResponse({"detail": "database unavailable; nothing was recorded"}, status_code=503)

    async def validation_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in error.errors()
        ]
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
        return JSONResponse({"detail": summary or "invalid request", "errors": problems}, status_code=422)

    async def unexpected(_request: Request, _error: Exception) -> JSONResponse:
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(OperationalError, database_error)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


class _LimitsAndMetrics:
    """Refuses bodies over the size limit (413) and times every request for Prometheus."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            response = JSONResponse({"detail": f"body is larger than {self.max_body_bytes} bytes"}, 413)
            await response(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            self.metrics.observe_request(
                method=scope["method"],
                route=getattr(route, "path", "unmatched"),
                status=status["code"],
                seconds=time.perf_counter() - started,
            )


def _document_events_batch(app: FastAPI) -> None:
    """Add EventsBatch (read by hand so one route takes JSON or a file) to the OpenAPI components."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        batch = EventsBatch.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(batch.pop("$defs", {}))
        components["EventsBatch"] = batch
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
