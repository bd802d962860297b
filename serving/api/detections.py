"""POST /v1/detections and GET /v1/detections/{run_id}."""

from __future__ import annotations

from fastapi import APIRouter, Response

from serving.api.deps import AnyKey, BillingKey, DetectionDep, LookupKey
from serving.schemas import DetectionIn, DetectionOut, problems
from serving.statuses import RunStatus

router = APIRouter(prefix="/v1/detections", tags=["detections"])


@router.post(
    "",
    status_code=201,
    responses={
        202: {"model": DetectionOut, "description": "running in the background"},
        **problems(401, 403, 422, 503),
    },
)
def post_detection(
    request: DetectionIn, principal: BillingKey, detection: DetectionDep, response: Response
) -> DetectionOut:
    """Run detection over every campaign's events in a period; long runs continue in the background."""
    run = detection.start(start=request.period_start, end=request.period_end, actor=principal)
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        response.status_code = 202
    return run


@router.get("/{run_id}", responses=problems(401, 404, 422, 503))
def get_detection(run_id: LookupKey, principal: AnyKey, detection: DetectionDep) -> DetectionOut:
    """A detection run's status, progress and summary."""
    return detection.status(run_id)
