"""API keys: create, list, revoke, authenticate; every use is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from serving.auth import KEY_PREFIX, Principal, Role, hash_key, new_key
from serving.db.models import ApiKey
from serving.db.repository import Repository, as_utc, utcnow
from serving.errors import NotFound


@dataclass(frozen=True)
class KeyInfo:
    """A key as listed (never its secret)."""

    key_id: str
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


class KeyService:
    """Key management and authentication."""

    def __init__(self, *, repository: Repository) -> None:
        self.repository = repository

    def create(self, *, role: Role, name: str) -> tuple[KeyInfo, str]:
        """A new key; the secret is returned once and only its hash is kept."""
        key_id, secret = new_key()
        row = ApiKey(id=key_id, name=name, role=role.value, key_hash=hash_key(secret), created_at=utcnow())
        with self.repository.session() as session:
            session.add(row)
            self.repository.audit(
                session,
                actor="cli",
                role="admin",
                action="key.create",
                target=f"key:{key_id}",
                detail={"role": role.value, "name": name},
            )
        return _info(row), secret

    def list(self) -> list[KeyInfo]:
        """Every key, oldest first."""
        return [_info(k) for k in self.repository.api_keys()]

    def revoke(self, key_id: str) -> KeyInfo:
        """Revoke a key; it stops working at once."""
        with self.repository.session() as session:
            row = session.scalars(select(ApiKey).where(ApiKey.id == key_id)).first()
            if row is None:
                raise NotFound(f"no key {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                self.repository.audit(
                    session, actor="cli", role="admin", action="key.revoke", target=f"key:{key_id}"
                )
        return _info(row)

    def authenticate(self, secret: str, *, method: str, path: str) -> Principal | None:
        """The principal behind a live key (and an audit row of its use), or None."""
        if not secret.startswith(KEY_PREFIX):
            return None
        row = self.repository.key_by_hash(hash_key(secret))
        if row is None or row.revoked_at is not None:
            return None
        principal = Principal(key_id=row.id, name=row.name, role=Role(row.role))
        with self.repository.session() as session:
            self.repository.audit(
                session,
                actor=row.id,
                role=row.role,
                action="key.use",
                target=f"key:{row.id}",
                detail={"method": method, "path": path},
            )
        return principal


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        key_id=row.id,
        name=row.name,
        role=row.role,
        created_at=as_utc(row.created_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
    )
