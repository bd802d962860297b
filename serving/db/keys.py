"""API keys: looked up by digest or id, listed; only a key's SHA-256 is stored."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.db.database import Repository
from serving.db.models import ApiKey


class KeyRepository(Repository):
    """Queries of the API keys."""

    def key(self, key_id: str) -> ApiKey | None:
        """The key with this id, if any."""
        with self.session() as session:
            return session.get(ApiKey, key_id)

    def key_in(self, session: Session, key_id: str) -> ApiKey | None:
        """The key with this id, read in the caller's transaction (to be revoked there)."""
        return session.scalars(select(ApiKey).where(ApiKey.id == key_id)).first()

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this digest, if any."""
        with self.session() as session:
            return session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()

    def api_keys(self) -> Sequence[ApiKey]:
        """All keys, oldest first."""
        with self.session() as session:
            return session.scalars(select(ApiKey).order_by(ApiKey.created_at)).all()
