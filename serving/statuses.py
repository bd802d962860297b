"""Statuses and kinds of the service's rows, each one ``StrEnum`` (stored and sent as its value)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class RunStatus(StrEnum):
    """Where a detection run is."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# a detection run (or background settlement) not yet ended
UNFINISHED = (RunStatus.QUEUED, RunStatus.RUNNING)


class SettlementStatus(StrEnum):
    """Whether a settlement stands, or waits for a second person's sign-off."""

    SETTLED = "settled"
    NEEDS_SIGNOFF = "needs_signoff"


class Decision(StrEnum):
    """What a settlement does with a post."""

    PAY = "pay"
    DISCOUNT = "discount"
    HOLD = "hold"


class AdjustmentKind(StrEnum):
    """A correction beside a settlement: held or withheld money released, or paid money clawed back.

    ``release_withheld`` pays money the settlement withheld (invalid engagements of a paid or
    discounted post), capped by what it withheld on that post: a reviewer's override.
    """

    RELEASE = "release"
    RELEASE_WITHHELD = "release_withheld"
    CLAWBACK = "clawback"


class CaseKind(StrEnum):
    """What a review case is about: a held post, a flagged engaging account, a creator's posts in one
    settlement, or one detected seller group (pool, block, ring, farm)."""

    POST = "post"
    ACCOUNT = "account"
    CREATOR = "creator"
    GROUP = "group"


class CaseSample(StrEnum):
    """Why a case reached a reviewer though it is no ordinary flagged case (``None``: flagged, queued
    because policy cannot decide it). The labels' ``sample`` kinds (training/labels.py ``SAMPLE_KINDS``).

    ``audit``: a random sample of the account cases policy decides; ``uncertain``: a sample of those
    whose risk lies near the cut (active learning); ``dispute``: a creator case the brand disputed.
    """

    AUDIT = "audit"
    UNCERTAIN = "uncertain"
    DISPUTE = "dispute"


class CaseStatus(StrEnum):
    """Where a review case is; ``deciding`` while its money moves."""

    OPEN = "open"
    DECIDING = "deciding"
    DECIDED = "decided"


class ReviewAction(StrEnum):
    """What a review decision did with a case; the deadline's default is no reviewer's choice."""

    CONFIRM_FRAUD = "confirm_fraud"
    CLEAR = "clear"
    PARTIAL_RELEASE = "partial_release"
    DEADLINE_DEFAULT = "deadline_default"
    POLICY_DEFAULT = "policy_default"  # a case whose decision cannot move money: decided when opened


class EnumText(TypeDecorator[StrEnum]):
    """A ``StrEnum`` column stored as its value in a plain string column (schemas unchanged)."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """The member's value (a plain string of a member is accepted)."""
        return None if value is None else str(self.enum(value).value)

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        """The stored value as its member."""
        return None if value is None else self.enum(value)
