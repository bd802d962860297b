"""Settlements: create (idempotent), read, adjust (idempotent), sign off."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from starlette.concurrency import run_in_threadpool

from serving.api.deps import AnyKey, BillingKey, CorrectionsDep, LookupKey, ReviewerKey, SettlementsDep
from serving.corrections import SignoffIn, SignoffOut
from serving.schemas import (
    AdjustmentIn,
    AdjustmentOut,
    SettlementIn,
    SettlementOut,
    SettlementPending,
    problems,
)
from serving.settlement import StoredAnswer

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
        202: {
            "model": SettlementPending,
            "description": "too large to settle inline: made in the background, poll status_url",
        },
        **problems(
            401,
            403,
            404,
            409,
            422,
            503,
            c409="key reused with another body, the exact period already settled, or every event of the "
            "period settled already (the covering settlements are named)",
        ),
    },
)
def post_settlement(
    request: SettlementIn, idempotency_key: IdempotencyKey, principal: BillingKey, settlements: SettlementsDep
) -> Response:
    """Settle what no settlement covered of a campaign's period: per post pay, discount or hold."""
    return _answer(settlements.settle(request, idempotency_key=idempotency_key, actor=principal))


@router.get(
    "/{settlement_id}",
    response_model=SettlementOut,
    responses={
        202: {"model": SettlementPending, "description": "still being made in the background"},
        **problems(401, 404, 422, 503),
    },
)
async def get_settlement(
    settlement_id: LookupKey, principal: AnyKey, settlements: SettlementsDep
) -> Response:
    """A settlement exactly as first returned (adjustments and sign-off are listed beside it).

    A settlement made in the background answers 202 with its status until it is made, and
    the error it failed with (409, 503, ...) if it failed.
    """
    body = settlements.cached(settlement_id)
    if body is not None:
        return Response(body, media_type=_JSON)
    found = await run_in_threadpool(settlements.lookup, settlement_id)
    return Response(found.body, status_code=found.status_code or 200, media_type=_JSON)


def _answer(result: StoredAnswer) -> Response:
    status = result.status_code or (200 if result.is_replay else 201)
    headers = dict(_REPLAYED) if result.is_replay else {}
    if status == 202:
        headers["Location"] = f"{router.prefix}/{_settlement_id(result.body)}"
    return Response(result.body, status_code=status, media_type=_JSON, headers=headers)


def _settlement_id(body: bytes) -> str:
    return str(SettlementPending.model_validate_json(body).settlement_id)


@router.post(
    "/{settlement_id}/adjustments",
    status_code=201,
    response_model=AdjustmentOut,
    responses={
        200: {"model": AdjustmentOut, "description": "a replay: the stored adjustment, byte for byte"},
        **problems(
            401,
            403,
            404,
            409,
            422,
            503,
            c409="Idempotency-Key reused with another body",
            c422="the request fails validation, or the amount exceeds what can be adjusted",
        ),
    },
)
def post_adjustment(
    settlement_id: LookupKey,
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


@router.get("/{settlement_id}/adjustments", responses=problems(401, 404, 422, 503))
def get_adjustments(
    settlement_id: LookupKey, principal: AnyKey, corrections: CorrectionsDep
) -> list[AdjustmentOut]:
    """A settlement's adjustments, oldest first."""
    return corrections.adjustments(settlement_id)


@router.post(
    "/{settlement_id}/signoff",
    status_code=201,
    responses=problems(
        401, 403, 404, 409, 422, 503, c409="no sign-off needed, or already signed off (named)"
    ),
)
def post_signoff(
    settlement_id: LookupKey, request: SignoffIn, principal: ReviewerKey, corrections: CorrectionsDep
) -> SignoffOut:
    """Sign off a settlement the blast-radius cap marked ``needs_signoff`` (once; appended and audited)."""
    return corrections.signoff(settlement_id, request, actor=principal)


@router.get("/{settlement_id}/signoff", responses=problems(401, 404, 422, 503))
def get_signoff(settlement_id: LookupKey, principal: AnyKey, corrections: CorrectionsDep) -> SignoffOut:
    """The sign-off of a settlement (404 until one is given)."""
    return corrections.signoff_of(settlement_id)
