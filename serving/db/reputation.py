"""The reputation table: what runs and reviews established about accounts, and what a run may read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Row, and_, or_, select
from sqlalchemy.orm import Session

from serving.db.database import Repository, as_utc
from serving.db.models import ReputationEntry, ReviewReopen

CHUNK = 5000  # account ids per IN list


class ReputationRepository(Repository):
    """Queries of the reputation table (append-only)."""

    def add(self, session: Session, entries: Iterable[ReputationEntry]) -> None:
        """Append entries in the caller's transaction."""
        session.add_all(list(entries))

    def entries(
        self, account_ids: Sequence[str], *, runs_until: datetime, reviews_until: datetime
    ) -> list[Row[str, str, str, str, datetime]]:
        """Entries of these accounts: runs' established before ``runs_until``, reviews' at or before
        ``reviews_until`` (but for cases an admin reopened: their labels are superseded).
        Columns: account_id, verdict, source, source_id, established_at."""
        query = select(
            ReputationEntry.account_id,
            ReputationEntry.verdict,
            ReputationEntry.source,
            ReputationEntry.source_id,
            ReputationEntry.established_at,
        )
        reopened = select(ReviewReopen.case_id)
        readable = or_(
            and_(ReputationEntry.source == "run", ReputationEntry.established_at < as_utc(runs_until)),
            and_(
                ReputationEntry.source != "run",
                ReputationEntry.established_at <= as_utc(reviews_until),
                ReputationEntry.source_id.not_in(reopened),
            ),
        )
        rows: list[Row[str, str, str, str, datetime]] = []
        with self.session() as session:
            for i in range(0, len(account_ids), CHUNK):
                chunk = list(account_ids[i : i + CHUNK])
                rows.extend(
                    session.execute(query.where(ReputationEntry.account_id.in_(chunk), readable)).all()
                )
        return rows

    def of_source(self, source_id: str) -> list[ReputationEntry]:
        """What one run or case established, by account."""
        with self.session() as session:
            query = select(ReputationEntry).where(ReputationEntry.source_id == source_id)
            return list(session.scalars(query.order_by(ReputationEntry.account_id)))
