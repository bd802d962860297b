"""The FastAPI app: ``create_app(config)`` with a lifespan that migrates, loads and wires services."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from detectors.model import WindowScorer
from serving import faults
from serving.account_risk import AccountService
from serving.api import account_risk, campaigns, detections, events, health, settlements
from serving.api import audit as audit_api
from serving.api import disputes as disputes_api
from serving.api import models as models_api
from serving.api.deps import Services
from serving.audit import AuditLog
from serving.campaigns import CampaignService
from serving.config import ServiceConfig
from serving.corrections import CorrectionService
from serving.db.engine import make_engine, migrate
from serving.db.repositories import Repositories
from serving.detection import DetectionService
from serving.errors import ServiceError
from serving.history_state import HistoryStates
from serving.ingest import IngestService
from serving.keys import KeyService
from serving.metrics import Metrics
from serving.registry import start_models
from serving.reputation import ReputationMemory
from serving.review import build_review
from serving.review import router as review_router
from serving.review.headers import ConsoleHeaders
from serving.run_leases import RunLeases
from serving.schemas import ErrorItem, EventsBatch, Problem
from serving.scorers import VersionedScorer
from serving.settlement import SettlementService
from serving.spark_handoff import SparkHandoff
from serving.store import EventStore, Reconciled
from serving.uploads import IngestLimits


def build_services(
    config: ServiceConfig,
    *,
    executor: ThreadPoolExecutor,
    metrics: Metrics,
    scorer: WindowScorer | None = None,
) -> Services:
    """Migrate the database and wire every service with its collaborators.

    Detection decides with no model until ``start_models`` loads them; ``scorer``
    replaces the cold scorer built from ``config.params``.
    """
    config.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.resolved_database_url)
    migrate(engine)
    db = Repositories.over(engine)
    store = EventStore(config.events_dir)
    ingest = _ingest_service(config, db, store)
    _log_reconciled(ingest.reconcile())  # what a crash left between staging, commit and publish
    cold = VersionedScorer(version=config.model_version, scorer=scorer or WindowScorer(params=config.params))
    detection = _detection_service(config, db, store, cold, executor)
    detection.fail_interrupted()  # runs left queued or running by a previous process never finish
    audit = AuditLog(audit_trail=db.audit, spill_dir=config.home / "audit-spill")
    audit.recover()  # key uses a previous process could not write at shutdown
    settlements = SettlementService(
        settlements=db.settlements,
        requests=db.requests,
        runs=db.runs,
        events=db.events,
        campaigns=db.campaigns,
        audit_trail=db.audit,
        store=store,
        detection=detection,
        signoff_withheld_share=config.signoff_withheld_share,
        metrics=metrics,
        executor=executor,
    )
    settlements.fail_interrupted()  # background settlements whose process is gone never finish
    faults.arm(config.fault)  # once started: the start-up reconciliation passes no fault point
    return Services(
        config=config,
        db=db,
        store=store,
        metrics=metrics,
        keys=KeyService(keys=db.keys, audit_trail=db.audit, audit=audit),
        campaigns=CampaignService(campaigns=db.campaigns, audit_trail=db.audit),
        ingest=ingest,
        detection=detection,
        settlements=settlements,
        accounts=AccountService(runs=db.runs, settlements=db.settlements, detection=detection),
        corrections=CorrectionService(settlements=db.settlements, audit_trail=db.audit),
        audit=audit,
    )


def _detection_service(
    config: ServiceConfig,
    db: Repositories,
    store: EventStore,
    cold: VersionedScorer,
    executor: ThreadPoolExecutor,
) -> DetectionService:
    """Detection runs over the store, with their context days, the accounts remembered by earlier runs
    and reviews, and, if configured, the Spark hand-off."""
    spark = (
        SparkHandoff(config.spark_master, config.spark_from_events, config.spark_submit)
        if config.spark_master and config.spark_submit
        else None
    )
    return DetectionService(
        runs=db.runs,
        events=db.events,
        campaigns=db.campaigns,
        audit_trail=db.audit,
        store=store,
        cold=cold,
        runs_dir=config.runs_dir,
        executor=executor,
        sync_max_events=config.sync_detection_max_events,
        leases=RunLeases(db.runs, heartbeat_s=config.run_heartbeat_s, lease_s=config.run_lease_s),
        run_wait_s=config.run_wait_s,
        history_days=config.history_days,
        history_states=HistoryStates(config.history_states_dir) if config.history_days > 0 else None,
        spark=spark,
        reputation=ReputationMemory(
            repository=db.reputation, half_life_days=config.reputation_half_life_days
        ),
    )


def _ingest_service(config: ServiceConfig, db: Repositories, store: EventStore) -> IngestService:
    limits = IngestLimits(
        max_batch_events=config.max_batch_events,
        max_upload_rows=config.max_upload_rows,
        max_upload_decoded_bytes=config.max_upload_decoded_bytes,
    )
    return IngestService(events=db.events, audit_trail=db.audit, store=store, limits=limits)


def _log_reconciled(done: Reconciled) -> None:
    log = logging.getLogger(__name__)
    if done.published or done.discarded:
        log.warning("event store: staged batches published %s, discarded %s", done.published, done.discarded)
    if done.quarantined:
        log.warning(
            "event store: files of batches the database does not hold quarantined: %s", done.quarantined
        )
    if done.adopted:
        log.info("event store: %d files of accepted batches listed in their manifests", len(done.adopted))


def _load_ahead() -> None:
    """Import at start-up what the first ingest and the first detection run would otherwise import
    inside the request (pandera's checks and hypothesis; pyod, scikit-learn, scipy and numba: 3-5 s
    of a first run on a loaded machine), so that it is frozen with the rest (``gc.freeze``)."""
    from detectors.anomaly import load_ensemble
    from features.schema import prepare_checks

    prepare_checks()
    load_ensemble()


def create_app(config: ServiceConfig, *, scorer: WindowScorer | None = None) -> FastAPI:
    """The settlement API; ``scorer`` replaces the cold scorer built from ``config.params``."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detection")
        services = build_services(config, executor=executor, metrics=metrics, scorer=scorer)
        app.state.services = services
        app.state.review = build_review(services)
        app.state.models = start_models(config, detection=services.detection)
        _load_ahead()
        # the ~300k objects of the loaded libraries never die: keep full collections from
        # scanning them (a full collection over them stalled every request for 0.2 s)
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            app.state.models.stop()
            executor.shutdown(wait=True, cancel_futures=True)
            try:
                services.audit.close()  # write the queued key uses before the engine goes
            finally:
                services.db.database.engine.dispose()

    app = FastAPI(
        title="cpeguard settlement API",
        version="1.0.0",
        description="Per post: pay, discount or hold, with reasons, exactly once, with an audit trail.",
        lifespan=lifespan,
    )
    for module in (health, campaigns, events, detections, settlements, account_risk, audit_api):
        app.include_router(module.router)
    app.include_router(models_api.router)
    app.include_router(disputes_api.router)
    app.include_router(review_router)
    _install_error_handlers(app)
    app.add_middleware(_LimitsAndMetrics, max_body_bytes=config.max_body_bytes, metrics=metrics)
    app.add_middleware(ConsoleHeaders)
    _document_events_batch(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """Answer every error with the one Problem body: ``{"detail": str, "errors": [...] | null}``."""

    async def service_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ServiceError)
        return problem(error.detail, error.status_code)

    async def http_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return problem(str(error.detail), error.status_code, headers=error.headers)

    async def database_error(_request: Request, _error: Exception) -> JSONResponse:
        return problem("database unavailable; nothing was recorded", 503)

    async def validation_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        items = [
            ErrorItem(loc=list(e.get("loc", ())), msg=str(e.get("msg", "")), type=str(e.get("type", "")))
            for e in error.errors()
        ]
        summary = "; ".join(f"{'.'.join(str(p) for p in item.loc)}: {item.msg}" for item in items[:5])
        return problem(summary or "invalid request", 422, errors=items)

    async def unexpected(_request: Request, _error: Exception) -> JSONResponse:
        return problem("internal error", 500)

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(OperationalError, database_error)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


def problem(
    detail: str,
    status_code: int,
    *,
    errors: list[ErrorItem] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An error answer in the one documented shape (``serving.schemas.Problem``)."""
    body = Problem(detail=detail, errors=errors).model_dump(mode="json")
    return JSONResponse(body, status_code=status_code, headers=dict(headers) if headers else None)


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
        too_large = problem(f"body is larger than {self.max_body_bytes} bytes", 413)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await too_large(scope, receive, send)
            return
        if length is None and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            # a chunked body has no length up front: read it, counting, before the app sees it
            buffered = await _read_body(receive, limit=self.max_body_bytes)
            if buffered is None:
                await too_large(scope, receive, send)
                return
            receive = _replay(buffered, receive)

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


async def _read_body(receive: Receive, *, limit: int) -> list[Message] | None:
    """The body's messages, or None once they add up to more than ``limit`` bytes."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that hands out the buffered messages, then defers to the real one."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


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
