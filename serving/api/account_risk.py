"""GET /v1/accounts/{account_id}: an account's risk, flag and reasons."""

from __future__ import annotations

from fastapi import APIRouter

from serving.api.deps import AccountsDep, AnyKey, LookupKey
from serving.schemas import AccountOut, problems

router = APIRouter(prefix="/v1", tags=["accounts"])


@router.get("/accounts/{account_id}", responses=problems(401, 404, 422, 503))
def get_account(account_id: LookupKey, principal: AnyKey, accounts: AccountsDep) -> AccountOut:
    """An account's risk, flag and reasons with evidence, and the recent settlements it touched."""
    return accounts.account(account_id)
