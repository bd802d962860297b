"""GET /v1/accounts/{account_id}: an account's risk, flag and reasons."""

from __future__ import annotations

from fastapi import APIRouter

from serving.api.deps import AccountsDep, AnyKey
from serving.schemas import AccountOut, Problem

router = APIRouter(prefix="/v1", tags=["accounts"])


@router.get("/accounts/{account_id}", responses={404: {"model": Problem}})
def get_account(account_id: str, principal: AnyKey, accounts: AccountsDep) -> AccountOut:
    """An account's risk, flag and reasons with evidence, and the recent settlements it touched."""
    return accounts.account(account_id)
