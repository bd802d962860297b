"""Review console sessions: sign in with a reviewer or admin key, then a cookie; CSRF per session."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from serving.auth import Principal, Role
from serving.db.models import ApiKey, ReviewSession
from serving.db.repository import Repository, as_utc, utcnow
from serving.keys import KeyService

COOKIE_NAME = "cpg_review"
SIGNIN_CSRF_COOKIE = "cpg_signin_csrf"
SESSION_TTL = timedelta(hours=12)
REVIEW_ROLES = frozenset({Role.REVIEWER, Role.ADMIN})


class SignInRefused(Exception):
    """The key cannot open a review session (unknown, revoked, or the wrong role)."""


@dataclass(frozen=True)
class ReviewUser:
    """A signed-in reviewer: the key behind the session and the session's CSRF token."""

    principal: Principal
    csrf_token: str


class SessionStore:
    """Opens, resolves and ends sessions; only a token's SHA-256 is stored."""

    def __init__(self, *, repository: Repository, keys: KeyService) -> None:
        self.repository = repository
        self.keys = keys

    def sign_in(self, secret: str) -> tuple[str, ReviewUser]:
        """A new session token for a live reviewer or admin key; billing keys are refused."""
        principal = self.keys.authenticate(secret.strip(), method="POST", path="/review/sign-in")
        if principal is None:
            raise SignInRefused("that key is unknown or revoked")
        if principal.role not in REVIEW_ROLES:
            with self.repository.session() as session:
                self.repository.audit(
                    session,
                    actor=principal.key_id,
                    role=principal.role,
                    action="review.sign_in_refused",
                    target=f"key:{principal.key_id}",
                )
            raise SignInRefused(f"a {principal.role.value} key cannot sign in; use a reviewer or admin key")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = utcnow()
        with self.repository.session() as session:
            session.add(
                ReviewSession(
                    token_hash=_digest(token),
                    key_id=principal.key_id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + SESSION_TTL,
                )
            )
            self.repository.audit(
                session,
                actor=principal.key_id,
                role=principal.role,
                action="review.sign_in",
                target=f"key:{principal.key_id}",
            )
        return token, ReviewUser(principal=principal, csrf_token=csrf)

    def resolve(self, token: str | None) -> ReviewUser | None:
        """The user of a live session whose key is still live and still a review role, or None."""
        if not token:
            return None
        with self.repository.session() as session:
            row = session.execute(
                select(ReviewSession, ApiKey)
                .join(ApiKey, ApiKey.id == ReviewSession.key_id)
                .where(ReviewSession.token_hash == _digest(token))
            ).first()
        if row is None:
            return None
        stored, key = row
        if stored.ended_at is not None or as_utc(stored.expires_at) <= utcnow() or key.revoked_at is not None:
            return None
        role = Role(key.role)
        if role not in REVIEW_ROLES:
            return None
        return ReviewUser(
            principal=Principal(key_id=key.id, name=key.name, role=role), csrf_token=stored.csrf_token
        )

    def sign_out(self, token: str) -> None:
        """End a session at once."""
        with self.repository.session() as session:
            row = session.get(ReviewSession, _digest(token))
            if row is not None and row.ended_at is None:
                row.ended_at = utcnow()


def is_valid_csrf(expected: str | None, given: str | None) -> bool:
    """Whether a submitted CSRF token matches (constant time; empty never matches)."""
    return bool(expected) and bool(given) and secrets.compare_digest(str(expected), str(given))


def new_csrf_token() -> str:
    """A fresh random token (the sign-in form's double-submit token)."""
    return secrets.token_urlsafe(32)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
