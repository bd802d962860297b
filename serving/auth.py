"""API keys and roles: keys are random tokens, stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a key may do."""

    BILLING = "billing"
    REVIEWER = "reviewer"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """The caller behind a valid key."""

    key_id: str
    name: str
    role: Role


KEY_PREFIX = "cpg_"


def new_key() -> tuple[str, str]:
    """A fresh (key id, secret key); the key embeds its id so look-ups need one hash."""
    key_id = secrets.token_hex(8)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    """The stored digest of a key (keys are 256-bit random, so a plain hash suffices)."""
    return hashlib.sha256(key.encode()).hexdigest()
