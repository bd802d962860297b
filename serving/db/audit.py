"""The audit trail: append-only rows of who did what to which target, when."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from serving.db.database import Repository, utcnow
from serving.db.models import AuditEntry


class AuditRepository(Repository):
    """Appends and reads audit rows."""

    def record(
        self,
        session: Session,
        *,
        actor: str,
        role: str,
        action: str,
        target: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one audit row in the caller's transaction."""
        session.add(
            AuditEntry(
                at=utcnow(),
                actor=actor,
                role=role,
                action=action,
                target=target,
                detail=json.dumps(detail or {}, sort_keys=True, default=str),
            )
        )

    def add_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append queued audit rows (columns of ``AuditEntry`` but ``id``) in one transaction."""
        if rows:
            with self.session() as session:
                session.execute(insert(AuditEntry), list(rows))

    def entries(self, *, target: str | None, limit: int) -> Sequence[AuditEntry]:
        """The latest audit rows, newest last (of one target, or all)."""
        with self.session() as session:
            query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if target is not None:
                query = query.where(AuditEntry.target == target)
            return list(reversed(session.scalars(query).all()))
