"""Background settlement requests: their status, owner and lease (``serving.run_leases``)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from serving.db.database import Repository, utcnow
from serving.db.leased import renew_owned
from serving.db.models import SettlementRequest
from serving.statuses import UNFINISHED, RunStatus


class RequestRepository(Repository):
    """Queries of the settlements being made in the background."""

    def request(self, request_id: str) -> SettlementRequest | None:
        """A settlement being made in the background."""
        with self.session() as session:
            return session.get(SettlementRequest, request_id)

    def update_request(self, request_id: str, **values: Any) -> None:
        """Set fields of a background settlement."""
        with self.session() as session:
            row = session.get(SettlementRequest, request_id, with_for_update=True)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)

    def update_owned(self, request_id: str, *, owner: str, **values: Any) -> bool:
        """Set fields of the owner's request unless it already ended (another process found its
        lease expired and failed it); whether it was set."""
        query = (
            update(SettlementRequest)
            .where(
                SettlementRequest.id == request_id,
                SettlementRequest.owner == owner,
                SettlementRequest.status.in_(UNFINISHED),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        with self.session() as session:
            return bool(session.execute(query).rowcount)  # type: ignore[attr-defined]

    def take_over(self, request_id: str, *, was: SettlementRequest, owner: str, until: datetime) -> bool:
        """Queue again, as ``owner``'s, a request that failed or whose owner is gone, unless another
        thread or process changed it since it was read as ``was``; whether it was taken."""
        query = (
            update(SettlementRequest)
            .where(
                SettlementRequest.id == request_id,
                SettlementRequest.status == was.status,
                SettlementRequest.owner == was.owner,
            )
            .values(status=RunStatus.QUEUED, error="", error_status=0, owner=owner, lease_until=until)
            .execution_options(synchronize_session=False)
        )
        with self.session() as session:
            return bool(session.execute(query).rowcount)  # type: ignore[attr-defined]

    def renew_leases(self, ids: Collection[str], /, *, owner: str, until: datetime) -> None:
        """Extend the leases of the owner's unfinished requests to ``until``."""
        with self.session() as session:
            renew_owned(session, SettlementRequest, ids, owner=owner, until=until)

    def fail_stale_requests(
        self, *, error: str, error_status: int, stale: Callable[[SettlementRequest], bool]
    ) -> list[str]:
        """Mark failed, with ``error`` and the HTTP status ``error_status``, the queued or running
        requests ``stale`` finds abandoned (their owner is gone); returns their ids. Locked in id
        order: two processes doing this never deadlock."""
        with self.session() as session:
            query = (
                select(SettlementRequest)
                .where(SettlementRequest.status.in_(UNFINISHED))
                .order_by(SettlementRequest.id)
            )
            rows = session.scalars(query.with_for_update()).all()
            failed = [row for row in rows if stale(row)]
            for row in failed:
                row.status = RunStatus.FAILED
                row.error = error
                row.error_status = error_status
                row.finished_at = utcnow()
            return [row.id for row in failed]
