"""Creator disputes: a brand disputes what a settlement kept of a creator's money; the review queue
decides it (``serving.review.disputes``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from serving.api.deps import AnyKey, BillingKey, LookupKey
from serving.review.service import ReviewServices, get_review
from serving.schemas import DisputeIn, DisputeOut, problems

router = APIRouter(prefix="/v1/settlements", tags=["disputes"])
ReviewDep = Annotated[ReviewServices, Depends(get_review)]


@router.post(
    "/{settlement_id}/disputes",
    status_code=201,
    response_model=DisputeOut,
    responses={
        200: {"model": DisputeOut, "description": "already disputed: the dispute filed first"},
        **problems(
            401,
            403,
            404,
            409,
            422,
            503,
            c404="no such settlement, creator or post in it",
            c409="the settlement keeps none of the creator's money, or the creator's case is decided",
        ),
    },
)
def post_dispute(
    settlement_id: LookupKey, request: DisputeIn, principal: BillingKey, review: ReviewDep
) -> JSONResponse:
    """Dispute what a settlement withheld or held of a creator's money (name the creator or a post).

    The creator's case in the review queue is marked a dispute; a reviewer clears it (pays the
    creator) or confirms it. Once per creator and settlement: a second filing answers the first (200).
    """
    dispute, created = review.disputes.file(settlement_id, request, actor=principal)
    return JSONResponse(dispute.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/{settlement_id}/disputes", responses=problems(401, 404, 422, 503))
def get_disputes(settlement_id: LookupKey, principal: AnyKey, review: ReviewDep) -> list[DisputeOut]:
    """A settlement's disputes, oldest first, with how each was decided (``outcome``, ``released``)."""
    return review.disputes.of_settlement(settlement_id)
