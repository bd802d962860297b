"""GET /v1/accounts/{account_id} and the read-only audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serving.api.deps import AccountsDep, AnyKey, AuditDep, ReviewerKey
from serving.schemas import AccountOut, AuditOut, Problem

router = APIRouter(prefix="/v1", tags=["accounts"])


@router.get("/accounts/{account_id}", responses={404: {"model": Problem}})
def get_account(account_id: str, principal: AnyKey, accounts: AccountsDep) -> AccountOut:
    """An account's risk, flag and reasons with evidence, and the recent settlements it touched."""
    return accounts.account(account_id)


@router.get("/audit", tags=["audit"])
def get_audit(
    principal: ReviewerKey,
    audit: AuditDep,
    target: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """The latest audit rows (of one target, e.g. a settlement id); the log cannot be edited."""
    return audit.entries(target=target, limit=limit)
