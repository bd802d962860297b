"""API keys: create, list, revoke, authenticate; every use is audited.

Authentication keeps each valid key's principal for ``cache_seconds`` so a request
costs one SHA-256 and a dict look-up, not a query. A revocation through this service
takes effect at once; one made by another process (``cpeguard keys revoke``) within
``cache_seconds``. Each use is queued on the audit log's background writer.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from serving.audit import AuditLog
from serving.auth import KEY_PREFIX, Principal, Role, hash_key, new_key
from serving.db.audit import AuditRepository
from serving.db.database import as_utc, utcnow
from serving.db.keys import KeyRepository
from serving.db.models import ApiKey
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

    def __init__(
        self,
        *,
        keys: KeyRepository,
        audit_trail: AuditRepository,
        audit: AuditLog | None = None,
        cache_seconds: float = 2.0,
    ) -> None:
        self.keys = keys
        self.audit_trail = audit_trail
        self.audit = audit or AuditLog(audit_trail=audit_trail)
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._cache_lock = threading.Lock()

    def create(self, *, role: Role, name: str) -> tuple[KeyInfo, str]:
        """A new key; the secret is returned once and only its hash is kept."""
        key_id, secret = new_key()
        row = ApiKey(id=key_id, name=name, role=role.value, key_hash=hash_key(secret), created_at=utcnow())
        with self.keys.session() as session:
            session.add(row)
            self.audit_trail.record(
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
        return [_info(k) for k in self.keys.api_keys()]

    def revoke(self, key_id: str) -> KeyInfo:
        """Revoke a key; it stops working at once."""
        with self.keys.session() as session:
            row = self.keys.key_in(session, key_id)
            if row is None:
                raise NotFound(f"no key {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                self.audit_trail.record(
                    session, actor="cli", role="admin", action="key.revoke", target=f"key:{key_id}"
                )
        with self._cache_lock:  # after the commit, so no look-up can cache the key again
            self._cache = {d: hit for d, hit in self._cache.items() if hit[0].key_id != key_id}
        return _info(row)

    def authenticate(self, secret: str, *, method: str, path: str) -> Principal | None:
        """The principal behind a live key (its use queued for the audit log), or None."""
        principal = self.cached(secret)
        if principal is None:
            principal = self.lookup(secret)
        if principal is not None:
            self.record_use(principal, method=method, path=path)
        return principal

    def cached(self, secret: str) -> Principal | None:
        """The principal of a key checked within ``cache_seconds`` (no I/O), else None."""
        digest = hash_key(secret)
        with self._cache_lock:
            hit = self._cache.get(digest)
        if hit is None or time.monotonic() - hit[1] > self.cache_seconds:
            return None
        return hit[0]

    def lookup(self, secret: str) -> Principal | None:
        """The principal of a live key, read from the database (and cached), or None."""
        if not secret.startswith(KEY_PREFIX):
            return None
        digest = hash_key(secret)
        row = self.keys.key_by_hash(digest)
        if row is None or row.revoked_at is not None:
            with self._cache_lock:
                self._cache.pop(digest, None)
            return None
        principal = Principal(key_id=row.id, name=row.name, role=Role(row.role))
        with self._cache_lock:
            self._cache[digest] = (principal, time.monotonic())
        return principal

    def record_use(self, principal: Principal, *, method: str, path: str) -> None:
        """Queue the audit row of one use of a key."""
        self.audit.record_later(
            actor=principal.key_id,
            role=principal.role.value,
            action="key.use",
            target=f"key:{principal.key_id}",
            detail={"method": method, "path": path},
        )


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        key_id=row.id,
        name=row.name,
        role=row.role,
        created_at=as_utc(row.created_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
    )
