"""Settlements: create (idempotent), read, adjust (idempotent), sign off."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from starlette.concurrency import run_in_threadpool

from serving.api.deps import AnyKey, BillingKey, CorrectionsDep, ReviewerKey, SettlementsDep
from serving.corrections import SignoffIn, SignoffOut
from serving.schemas import AdjustmentIn, AdjustmentOut, Problem, SettlementIn, SettlementOut

router = APIRouter(prefix="/v1/settlements", tags=["settlements"])
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="the same key and body replay the same answer; another body is a 409",
    ),
]
_JSON = "application/json"
_REPLAYED = {"Idempotent-Replayed": "true"}


@router.post(
    "",
    status_code=201,
    response_model=SettlementOut,
    responses={
        200: {"model": SettlementOut, "description": "a replay: the stored settlement, byte for byte"},
        409: {"model": Problem, "description": "key reused with another body, or period already settled"},
        503: {"model": Problem, "description": "a dependency is down; nothing was recorded"},
    },
)
def post_settlement(
    request: SettlementIn, idempotency_key: IdempotencyKey, principal: BillingKey, settlements: SettlementsDep
) -> Response:
    """Settle a campaign's period: per post pay, discount or hold, with reasons, exactly once."""
    result = settlements.settle(request, idempotency_key=idempotency_key, actor=principal)
    return Response(
        result.body,
        status_code=200 if result.is_replay else 201,
        media_type=_JSON,
        headers=_REPLAYED if result.is_replay else {},
    )


@router.get("/{settlement_id}", response_model=SettlementOut, responses={404: {"model": Problem}})
async def get_settlement(settlement_id: str, principal: AnyKey, settlements: SettlementsDep) -> Response:
    """A settlement exactly as first returned (adjustments and sign-off are listed beside it)."""
    body = settlements.cached(settlement_id)
    if body is None:
        body = await run_in_threadpool(settlements.get, settlement_id)
    return Response(body, media_type=_JSON)


@router.post(
    "/{settlement_id}/adjustments",
    status_code=201,
    response_model=AdjustmentOut,
    responses={
        200: {"model": AdjustmentOut, "description": "a replay: the stored adjustment, byte for byte"},
        404: {"model": Problem},
        409: {"model": Problem, "description": "Idempotency-Key reused with another body"},
        422: {"description": "amount exceeds what can be adjusted"},
    },
)
def post_adjustment(
    settlement_id: str,
    request: AdjustmentIn,
    idempotency_key: IdempotencyKey,
    principal: ReviewerKey,
    corrections: CorrectionsDep,
) -> Response:
    """Release held money or claw back paid money for one post, with a reason, linked to the settlement.

    Exactly once per ``Idempotency-Key``: the same key and body replay the stored answer (200).
    """
    result = corrections.adjust(settlement_id, request, idempotency_key=idempotency_key, actor=principal)
    return Response(
        result.body,
        status_code=200 if result.is_replay else 201,
        media_type=_JSON,
        headers=_REPLAYED if result.is_replay else {},
    )


@router.get("/{settlement_id}/adjustments", responses={404: {"model": Problem}})
def get_adjustments(
    settlement_id: str, principal: AnyKey, corrections: CorrectionsDep
) -> list[AdjustmentOut]:
    """A settlement's adjustments, oldest first."""
    return corrections.adjustments(settlement_id)


@router.post(
    "/{settlement_id}/signoff",
    status_code=201,
    responses={
        404: {"model": Problem},
        409: {"model": Problem, "description": "no sign-off needed, or already signed off (named)"},
    },
)
def post_signoff(
    settlement_id: str, request: SignoffIn, principal: ReviewerKey, corrections: CorrectionsDep
) -> SignoffOut:
    """Sign off a settlement the blast-radius cap marked ``needs_signoff`` (once; appended and audited)."""
    return corrections.signoff(settlement_id, request, actor=principal)


@router.get("/{settlement_id}/signoff", responses={404: {"model": Problem}})
def get_signoff(settlement_id: str, principal: AnyKey, corrections: CorrectionsDep) -> SignoffOut:
    """The sign-off of a settlement (404 until one is given)."""
    return corrections.signoff_of(settlement_id)
