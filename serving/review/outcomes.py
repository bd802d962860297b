"""What decisions are and leave behind: actions, results, the release keys and reasons they write."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from serving.auth import Principal, Role
from serving.errors import Invalid
from serving.review.rows import CaseRow
from serving.statuses import ReviewAction

# what a reviewer chooses from (the deadline default is the settlement deadline's alone)
ACTIONS: tuple[ReviewAction, ...] = (
    ReviewAction.CONFIRM_FRAUD,
    ReviewAction.CLEAR,
    ReviewAction.PARTIAL_RELEASE,
)
DEADLINE = Principal(key_id="deadline", name="settlement deadline", role=Role.ADMIN)
_ZERO = Decimal("0.00")


@dataclass(frozen=True)
class DecisionResult:
    """What a decision did."""

    case_id: str
    decision_id: str
    action: ReviewAction
    released: Decimal
    adjustment_id: str | None
    n_labels: int


@dataclass(frozen=True)
class BulkOutcome:
    """One case of a bulk action: decided, or why not."""

    case_id: str
    result: DecisionResult | None
    error: str


@dataclass(frozen=True)
class Recovery:
    """What recovering one stuck case did: ``decided`` (from its adjustment), ``reopened``, or neither."""

    case_id: str
    outcome: Literal["decided", "reopened", "skipped", "unresolved"]
    detail: str


def review_key(case_id: str) -> str:
    """The Idempotency-Key of a case's release adjustment."""
    return f"review:{case_id}"


def adjustment_reason(case_id: str, action: ReviewAction, note: str) -> str:
    """The reason written on a case's release adjustment (``recover_stuck`` reads it back)."""
    return f"review {case_id} {action}: {note}"[:1000]


def parse_reason(case_id: str, reason: str) -> tuple[ReviewAction, str] | None:
    """(action, note) of a reason ``adjustment_reason`` wrote for this case, else None."""
    head = f"review {case_id} "
    action, sep, note = reason.removeprefix(head).partition(": ")
    if not reason.startswith(head) or not sep or action not in tuple(ReviewAction):
        return None
    return ReviewAction(action), note


def release_amount(action: ReviewAction, case: CaseRow, *, amount: Decimal | None, clean: Decimal) -> Decimal:
    """How much a post case decision releases (a partial release checked against what is held)."""
    if action == ReviewAction.CONFIRM_FRAUD:
        return _ZERO
    if action == ReviewAction.CLEAR:
        return case.at_stake
    if amount is None:
        amount = min(clean, case.at_stake)
    if amount <= 0 or amount > case.at_stake:
        raise Invalid(f"amount: a partial release must be above 0 and at most the {case.at_stake} still held")
    if amount != amount.quantize(Decimal("0.01")):
        raise Invalid("amount: at most two decimal places")
    return amount
