"""Request and response models of the v1 API (requests are strict: unknown fields are refused)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from serving.problems import ANSWERS, ErrorItem, Problem, problems
from serving.statuses import AdjustmentKind, Decision, RunStatus, SettlementStatus
from serving.values import ID_PATTERN, NO_NUL, Amount, Id, Money, Price

# with the value rules (serving.values) and error answers (serving.problems), imported from here
__all__ = [
    "ANSWERS",
    "ID_PATTERN",
    "NO_NUL",
    "AccountOut",
    "AccountReason",
    "AdjustmentIn",
    "AdjustmentOut",
    "Amount",
    "AuditOut",
    "CampaignIn",
    "CampaignOut",
    "DetectionIn",
    "DetectionOut",
    "DisputeIn",
    "DisputeOut",
    "ErrorItem",
    "EventIn",
    "EventsBatch",
    "Id",
    "IngestOut",
    "Money",
    "PeriodIn",
    "PostLine",
    "Price",
    "Problem",
    "RejectedRow",
    "SettlementIn",
    "SettlementOut",
    "SettlementPending",
    "Totals",
    "problems",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignIn(_Strict):
    """A campaign's terms: platform, currency, unit price per paid action, settlement window."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "platform": "douyin",
                    "currency": "CNY",
                    "price_like": "0.30",
                    "price_favorite": "0.50",
                    "price_comment": "1.00",
                    "price_share": "1.50",
                    "window_start": "2025-03-01T00:00:00Z",
                    "window_end": "2025-04-01T00:00:00Z",
                }
            ]
        },
    )
    platform: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    price_like: Price
    price_favorite: Price
    price_comment: Price
    price_share: Price
    window_start: AwareDatetime
    window_end: AwareDatetime

    @model_validator(mode="after")
    def _window_ordered(self) -> CampaignIn:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self


class CampaignOut(BaseModel):
    """A registered campaign."""

    campaign_id: str
    platform: str
    currency: str
    price_like: Decimal
    price_favorite: Decimal
    price_comment: Decimal
    price_share: Decimal
    window_start: datetime
    window_end: datetime


class EventIn(BaseModel):
    """One engagement in the contract's columns; values are checked row by row, not here.

    Unknown extra columns are ignored, as the data contract promises.
    """

    model_config = ConfigDict(extra="ignore")
    event_id: str | None = None
    platform: str | None = None
    campaign_id: str | None = None
    post_id: str | None = None
    creator_id: str | None = None
    user_id: str | None = None
    action: str | None = None
    ts: str | None = None
    device_id: str | None = None
    ip: str | None = None
    user_created_at: str | None = None
    user_followers: int | None = None
    comment_text: str | None = None


class EventsBatch(_Strict):
    """A JSON batch of events."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "event_id": "e1",
                            "platform": "douyin",
                            "campaign_id": "cmp001",
                            "post_id": "p1",
                            "creator_id": "c1",
                            "user_id": "u1",
                            "action": "like",
                            "ts": "2025-03-06T08:06:21Z",
                        }
                    ]
                }
            ]
        },
    )
    events: list[EventIn]


class RejectedRow(BaseModel):
    """A row refused by the data contract."""

    row: int = Field(description="1-based position in the batch or data row of the file")
    field: str
    reason: str
    value: str


class IngestOut(BaseModel):
    """What an ingest did: accepted new events, duplicates (counted once) and rejected rows."""

    batch_id: int | None
    received: int
    accepted: int
    duplicates: int
    rejected: list[RejectedRow]
    missing_optional: list[str]


class PeriodIn(_Strict):
    """A half-open period ``[period_start, period_end)``."""

    period_start: AwareDatetime
    period_end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> PeriodIn:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self


class DetectionIn(PeriodIn):
    """Run detection over every campaign's events in a period."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"period_start": "2025-03-01T00:00:00Z", "period_end": "2025-04-01T00:00:00Z"}]
        },
    )


class DetectionOut(BaseModel):
    """A detection run: its status, progress and, when done, summary."""

    run_id: str
    status: RunStatus
    step: str
    progress: float
    period_start: datetime
    period_end: datetime
    n_events: int
    model_version: str
    rules_version: str
    input_hash: str
    summary: dict[str, int | float | str]
    error: str


class SettlementIn(PeriodIn):
    """Settle one campaign over a period."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "campaign_id": "cmp001",
                    "period_start": "2025-03-01T00:00:00Z",
                    "period_end": "2025-04-01T00:00:00Z",
                }
            ]
        },
    )
    campaign_id: Id


class PostLine(BaseModel):
    """One post's settlement line."""

    post_id: str
    creator_id: str
    claimed: int
    valid: int
    decision: Decision
    claimed_amount: Money
    payable: Money
    held_amount: Money
    withheld_amount: Money
    reasons: list[str]


class Totals(BaseModel):
    """Money totals of a settlement."""

    claimed: Money
    payable: Money
    held: Money
    withheld: Money
    withheld_share: float


class SettlementOut(BaseModel):
    """A settlement: returned once, then replayed byte for byte; it never changes."""

    settlement_id: str
    campaign_id: str
    period_start: datetime
    period_end: datetime
    currency: str
    status: SettlementStatus
    needs_signoff: bool
    detection_run_id: str | None
    model_version: str
    rules_version: str
    input_hash: str
    n_events: int = Field(description="events this settlement covers (none covered by an earlier one)")
    n_events_already_settled: int = Field(
        description="events of the campaign and period left out: earlier settlements cover them"
    )
    already_settled_by: list[str] = Field(description="the settlements covering those events, oldest first")
    totals: Totals
    posts: list[PostLine]
    created_at: datetime


class SettlementPending(BaseModel):
    """A settlement being made in the background (202): poll ``status_url`` until it answers 200."""

    settlement_id: str
    campaign_id: str
    period_start: datetime
    period_end: datetime
    status: RunStatus
    status_url: str
    created_at: datetime


class AdjustmentIn(_Strict):
    """A correction appended to a settlement: release held money or claw back paid money."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"post_id": "p1", "kind": "release", "amount": "12.50", "reason": "reviewed: organic"}
            ]
        },
    )
    post_id: Id
    kind: AdjustmentKind
    amount: Amount
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=NO_NUL)]


class AdjustmentOut(BaseModel):
    """A recorded adjustment, linked to its settlement."""

    adjustment_id: str
    settlement_id: str
    post_id: str
    kind: str
    amount: Money
    reason: str
    actor: str
    created_at: datetime


class DisputeIn(_Strict):
    """A brand's dispute of what a settlement kept of a creator's money: the creator, or one of the
    creator's posts (its creator is disputed), and why."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"post_id": "p1", "reason": "the creator shows organic reach; please check the hold"}
            ]
        },
    )
    creator_id: Id | None = None
    post_id: Id | None = None
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NO_NUL)]

    @model_validator(mode="after")
    def _names_someone(self) -> DisputeIn:
        if self.creator_id is None and self.post_id is None:
            raise ValueError("give creator_id or post_id (the creator or one of the creator's posts)")
        return self


class DisputeOut(BaseModel):
    """A filed dispute, the review case it marked, and how that case was decided (once it is)."""

    dispute_id: str
    settlement_id: str
    creator_id: str
    post_id: str | None
    case_id: str
    reason: str
    filed_by: str
    filed_at: datetime
    status: str  # open, or decided
    outcome: str | None  # the decision's action: clear (for the creator), confirm_fraud, deadline_default
    released: Money | None  # what the decision paid the creator


class AccountReason(BaseModel):
    """A reason an account is risky, with the evidence sentence and its count."""

    reason: str
    engagements: int
    evidence: str


class AccountOut(BaseModel):
    """An account's risk in the latest detection run that saw it."""

    account_id: str
    role: str
    risk: float
    flagged: bool
    detection_run_id: str
    reasons: list[AccountReason]
    recent_settlements: list[str]


class AuditOut(BaseModel):
    """One audit row."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, object]
