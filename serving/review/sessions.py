"""Review console sessions: sign in with a reviewer or admin key, then a cookie; CSRF per session."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from serving.auth import Principal, Role
from serving.db.audit import AuditRepository
from serving.db.database import as_utc, utcnow
from serving.db.models import ReviewSession
from serving.db.review_sessions import ReviewSessionRepository
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

    def __init__(
        self, *, review_sessions: ReviewSessionRepository, audit_trail: AuditRepository, keys: KeyService
    ) -> None:
        self.review_sessions = review_sessions
        self.audit_trail = audit_trail
        self.keys = keys

    def sign_in(self, secret: str) -> tuple[str, ReviewUser]:
        """A new session token for a live reviewer or admin key; billing keys are refused."""
        principal = self.keys.authenticate(secret.strip(), method="POST", path="/review/sign-in")
        if principal is None:
            raise SignInRefused("that key is unknown or revoked")
        if principal.role not in REVIEW_ROLES:
            with self.audit_trail.session() as session:
                self.audit_trail.record(
                    session,
                    actor=principal.key_id,
                    role=principal.role,
                    action="review.sign_in_refused",
                    target=f"key:{principal.key_id}",
                )
            raise SignInRefused(f"a {principal.role.value} key cannot sign in; use a reviewer or admin key")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = utcnow()
        with self.review_sessions.session() as session:
            session.add(
                ReviewSession(
                    token_hash=_digest(token),
                    key_id=principal.key_id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + SESSION_TTL,
                )
            )
            self.audit_trail.record(
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
        row = self.review_sessions.session_and_key(_digest(token))
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
        self.review_sessions.end(_digest(token), at=utcnow())


def is_valid_csrf(expected: str | None, given: str | None) -> bool:
    """Whether a submitted CSRF token matches (constant time; empty never matches)."""
    return bool(expected) and bool(given) and secrets.compare_digest(str(expected), str(given))


def new_csrf_token() -> str:
    """A fresh random token (the sign-in form's double-submit token)."""
    return secrets.token_urlsafe(32)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
