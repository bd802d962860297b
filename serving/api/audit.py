"""GET /v1/audit: the read-only audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serving.api.deps import AuditDep, ReviewerKey
from serving.schemas import NO_NUL, AuditOut, problems

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit", responses=problems(401, 403, 422, 503))
def get_audit(
    principal: ReviewerKey,
    audit: AuditDep,
    target: Annotated[str | None, Query(max_length=300, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """The latest audit rows (of one target, e.g. a settlement id); the log cannot be edited."""
    return audit.entries(target=target, limit=limit)
