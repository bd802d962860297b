"""Dependencies of the routes, as Annotated aliases: one per service, built at startup by the lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from features.columns import ID_MAX_LENGTH
from serving.account_risk import AccountService
from serving.audit import AuditLog
from serving.auth import Principal, Role
from serving.campaigns import CampaignService
from serving.config import ServiceConfig
from serving.corrections import CorrectionService
from serving.db.database import Database
from serving.db.repositories import Repositories
from serving.detection import DetectionService
from serving.ingest import IngestService
from serving.keys import KeyService
from serving.metrics import Metrics
from serving.schemas import NO_NUL
from serving.settlement import SettlementService
from serving.store import EventStore


@dataclass(frozen=True)
class Services:
    """Everything the lifespan built, kept on ``app.state.services``; routes take one service each."""

    config: ServiceConfig
    db: Repositories
    store: EventStore
    metrics: Metrics
    keys: KeyService
    campaigns: CampaignService
    ingest: IngestService
    detection: DetectionService
    settlements: SettlementService
    accounts: AccountService
    corrections: CorrectionService
    audit: AuditLog


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_config(request: Request) -> ServiceConfig:
    """The service's configuration."""
    return _services(request).config


def get_database(request: Request) -> Database:
    """The database (readiness only: routes go through a service)."""
    return _services(request).db.database


def get_store(request: Request) -> EventStore:
    """The Parquet event store."""
    return _services(request).store


def get_metrics(request: Request) -> Metrics:
    """The Prometheus metrics."""
    return _services(request).metrics


def get_keys(request: Request) -> KeyService:
    """API keys."""
    return _services(request).keys


def get_campaigns(request: Request) -> CampaignService:
    """Campaign terms."""
    return _services(request).campaigns


def get_ingest(request: Request) -> IngestService:
    """Event ingestion."""
    return _services(request).ingest


def get_detection(request: Request) -> DetectionService:
    """Detection runs and the active models."""
    return _services(request).detection


def get_settlements(request: Request) -> SettlementService:
    """Settlements."""
    return _services(request).settlements


def get_accounts(request: Request) -> AccountService:
    """Account look-ups."""
    return _services(request).accounts


def get_corrections(request: Request) -> CorrectionService:
    """Adjustments and sign-offs."""
    return _services(request).corrections


def get_audit(request: Request) -> AuditLog:
    """The audit log."""
    return _services(request).audit


ConfigDep = Annotated[ServiceConfig, Depends(get_config)]
DatabaseDep = Annotated[Database, Depends(get_database)]
StoreDep = Annotated[EventStore, Depends(get_store)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
KeysDep = Annotated[KeyService, Depends(get_keys)]
CampaignsDep = Annotated[CampaignService, Depends(get_campaigns)]
IngestDep = Annotated[IngestService, Depends(get_ingest)]
DetectionDep = Annotated[DetectionService, Depends(get_detection)]
SettlementsDep = Annotated[SettlementService, Depends(get_settlements)]
AccountsDep = Annotated[AccountService, Depends(get_accounts)]
CorrectionsDep = Annotated[CorrectionService, Depends(get_corrections)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
# an id looked up in a path (settlement, run, account): unknown ones are a 404, a NUL a 422
LookupKey = Annotated[str, Path(min_length=1, max_length=ID_MAX_LENGTH, pattern=NO_NUL)]
_bearer = HTTPBearer(auto_error=False, description="an API key from `cpeguard keys create`")


async def get_principal(
    request: Request,
    keys: KeysDep,
    audit: AuditDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the bearer key; 401 without a valid one.

    A key checked within the last seconds is answered from memory on the event loop;
    otherwise the database look-up runs in the thread pool.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401, "missing API key: send Authorization: Bearer KEY", {"WWW-Authenticate": "Bearer"}
        )
    principal = keys.cached(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(keys.lookup, credentials.credentials)
    if principal is None:
        raise HTTPException(401, "invalid or revoked API key", {"WWW-Authenticate": "Bearer"})
    if audit.pending >= audit.max_pending:
        await run_in_threadpool(audit.flush)  # the writer is behind: catch up off the loop
    keys.record_use(principal, method=request.method, path=request.url.path)
    return principal


def _require(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise HTTPException(403, f"role {principal.role.value} may not do this; needs {allowed}")
        return principal

    return check


AnyKey = Annotated[Principal, Depends(get_principal)]
BillingKey = Annotated[Principal, Depends(_require(Role.BILLING, Role.ADMIN))]
ReviewerKey = Annotated[Principal, Depends(_require(Role.REVIEWER, Role.ADMIN))]
