"""Settlements: create (idempotent), read, adjust."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from serving.api.deps import AnyKey, BillingKey, ReviewerKey, ServicesDep
from serving.schemas import AdjustmentIn, AdjustmentOut, Problem, SettlementIn, SettlementOut

router = APIRouter(prefix="/v1/settlements", tags=["settlements"])
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="the same key and body replay the same settlement; another body is a 409",
    ),
]
_JSON = "application/json"


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
    request: SettlementIn, idempotency_key: IdempotencyKey, principal: BillingKey, services: ServicesDep
) -> Response:
    """Settle a campaign's period: per post pay, discount or hold, with reasons, exactly once."""
    result = services.settlements.settle(request, idempotency_key=idempotency_key, actor=principal)
    headers = {"Idempotent-Replayed": "true"} if result.is_replay else {}
    return Response(
        result.body, status_code=200 if result.is_replay else 201, media_type=_JSON, headers=headers
    )


@router.get("/{settlement_id}", response_model=SettlementOut, responses={404: {"model": Problem}})
def get_settlement(settlement_id: str, principal: AnyKey, services: ServicesDep) -> Response:
    """A settlement exactly as first returned (adjustments are listed beside it)."""
    return Response(services.settlements.get(settlement_id), media_type=_JSON)


@router.post(
    "/{settlement_id}/adjustments",
    status_code=201,
    responses={404: {"model": Problem}, 422: {"description": "amount exceeds what can be adjusted"}},
)
def post_adjustment(
    settlement_id: str, request: AdjustmentIn, principal: ReviewerKey, services: ServicesDep
) -> AdjustmentOut:
    """Release held money or claw back paid money for one post, with a reason, linked to the settlement."""
    return services.settlements.adjust(settlement_id, request, actor=principal)


@router.get("/{settlement_id}/adjustments", responses={404: {"model": Problem}})
def get_adjustments(settlement_id: str, principal: AnyKey, services: ServicesDep) -> list[AdjustmentOut]:
    """A settlement's adjustments, oldest first."""
    return services.settlements.adjustments(settlement_id)
