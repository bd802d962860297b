"""Review console sessions: a token's SHA-256, its key, CSRF token and lifetime."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from serving.db.database import Repository
from serving.db.models import ApiKey, ReviewSession


class ReviewSessionRepository(Repository):
    """Queries of the review sessions."""

    def session_and_key(self, token_hash: str) -> tuple[ReviewSession, ApiKey] | None:
        """The session stored under a token digest with its key, if any."""
        with self.session() as session:
            row = session.execute(
                select(ReviewSession, ApiKey)
                .join(ApiKey, ApiKey.id == ReviewSession.key_id)
                .where(ReviewSession.token_hash == token_hash)
            ).first()
        return None if row is None else (row[0], row[1])

    def end(self, token_hash: str, *, at: datetime) -> None:
        """Mark a live session ended at ``at`` (an ended or unknown one stays as it is)."""
        with self.session() as session:
            row = session.get(ReviewSession, token_hash)
            if row is not None and row.ended_at is None:
                row.ended_at = at
