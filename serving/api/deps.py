"""Dependencies of the routes, as Annotated aliases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from serving.accounts import AccountService
from serving.audit import AuditLog
from serving.auth import Principal, Role
from serving.campaigns import CampaignService
from serving.config import ServiceConfig
from serving.corrections import CorrectionService
from serving.db.repository import Repository
from serving.detection import DetectionService
from serving.ingest import IngestService
from serving.keys import KeyService
from serving.metrics import Metrics
from serving.settlement import SettlementService
from serving.store import EventStore


@dataclass(frozen=True)
class Services:
    """Everything the lifespan built, kept on ``app.state.services``."""

    config: ServiceConfig
    repository: Repository
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


async def get_services(request: Request) -> Services:
    """The app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
_bearer = HTTPBearer(auto_error=False, description="an API key from `cpeguard keys create`")


async def get_principal(
    request: Request,
    services: ServicesDep,
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
    keys = services.keys
    principal = keys.cached(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(keys.lookup, credentials.credentials)
    if principal is None:
        raise HTTPException(401, "invalid or revoked API key", {"WWW-Authenticate": "Bearer"})
    if services.audit.pending >= services.audit.max_pending:
        await run_in_threadpool(services.audit.flush)  # the writer is behind: catch up off the loop
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
