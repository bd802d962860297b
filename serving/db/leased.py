"""Rows leased by a service process (detection runs, background settlement requests): one renewal."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from serving.db.models import DetectionRun, SettlementRequest
from serving.statuses import UNFINISHED


def renew_owned(
    session: Session,
    model: type[DetectionRun] | type[SettlementRequest],
    ids: Collection[str],
    *,
    owner: str,
    until: datetime,
) -> None:
    """Extend to ``until`` the leases of ``owner``'s unfinished rows of ``model`` among ``ids``."""
    query = (
        update(model)
        .where(model.id.in_(list(ids)), model.owner == owner, model.status.in_(UNFINISHED))
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    session.execute(query)
