"""The database tables of the settlement service (SQLAlchemy 2 declarative)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from serving.auth import Role
from serving.statuses import (
    AdjustmentKind,
    CaseKind,
    CaseSample,
    CaseStatus,
    Decision,
    EnumText,
    ReviewAction,
    RunStatus,
    SettlementStatus,
)

MONEY = Numeric(18, 2)
PRICE = Numeric(18, 6)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class ApiKey(Base):
    """An API key: only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(EnumText(Role))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Campaign(Base):
    """A CPE campaign with its unit prices and settlement window."""

    __tablename__ = "campaigns"
    campaign_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    platform: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(8))
    price_like: Mapped[Decimal] = mapped_column(PRICE)
    price_favorite: Mapped[Decimal] = mapped_column(PRICE)
    price_comment: Mapped[Decimal] = mapped_column(PRICE)
    price_share: Mapped[Decimal] = mapped_column(PRICE)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IngestBatch(Base):
    """One accepted ingest request; its id orders arrivals."""

    __tablename__ = "ingest_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(300))
    n_rows: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StoredEvent(Base):
    """The index of stored events: one row per distinct event_id (the Parquet store holds the rest)."""

    __tablename__ = "events"
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(200))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batches.id"))
    __table_args__ = (
        Index("ix_events_ts", "ts"),
        # covers a campaign's count and latest batch over a period without reading the table
        Index("ix_events_campaign_ts_batch", "campaign_id", "ts", "batch_id"),
    )


class DetectionRun(Base):
    """A detection run over a period of all campaigns' events."""

    __tablename__ = "detection_runs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[RunStatus] = mapped_column(EnumText(RunStatus))
    step: Mapped[str] = mapped_column(String(32), default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    n_events: Mapped[int] = mapped_column(Integer, default=0)
    last_batch_id: Mapped[int] = mapped_column(Integer, default=0)
    model_version: Mapped[str] = mapped_column(String(64))
    rules_version: Mapped[str] = mapped_column(String(64))
    # the scorer's ScoringParams as JSON ("" on runs made before migration 0005)
    params: Mapped[str] = mapped_column(Text, default="")
    input_hash: Mapped[str] = mapped_column(String(64), default="")
    summary: Mapped[str] = mapped_column(Text, default="{}")
    error: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Settlement(Base):
    """A settlement: its response body is stored verbatim and never changes."""

    __tablename__ = "settlements"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[SettlementStatus] = mapped_column(EnumText(SettlementStatus))
    claimed_amount: Mapped[Decimal] = mapped_column(MONEY)
    payable_amount: Mapped[Decimal] = mapped_column(MONEY)
    held_amount: Mapped[Decimal] = mapped_column(MONEY)
    body: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("campaign_id", "period_start", "period_end", name="uq_settlement_period"),
    )


class SettlementPost(Base):
    """One post's line of a settlement (for adjustments and account look-ups)."""

    __tablename__ = "settlement_posts"
    settlement_id: Mapped[str] = mapped_column(ForeignKey("settlements.id"), primary_key=True)
    post_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    creator_id: Mapped[str] = mapped_column(String(200), index=True)
    decision: Mapped[Decision] = mapped_column(EnumText(Decision))
    payable: Mapped[Decimal] = mapped_column(MONEY)
    held_amount: Mapped[Decimal] = mapped_column(MONEY)


class SettledEngagement(Base):
    """The engagement ledger: one row per event_id a settlement covered, whatever it decided.

    The primary key is what makes an engagement settled at most once: two settlements
    claiming one event cannot both commit. Append-only (database triggers).
    """

    __tablename__ = "settled_engagements"
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(ForeignKey("settlements.id"), index=True)
    campaign_id: Mapped[str] = mapped_column(String(200))
    # the event's time as the settlement saw it (finds a period's settled events without the events)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_settled_engagements_campaign_ts", "campaign_id", "ts"),)


class SettlementRequest(Base):
    """A settlement being made in the background; its id becomes the settlement's id when done."""

    __tablename__ = "settlement_requests"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[RunStatus] = mapped_column(EnumText(RunStatus))
    error: Mapped[str] = mapped_column(Text, default="")
    # the HTTP status the request would have answered inline when it failed (0 otherwise)
    error_status: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(32))
    role: Mapped[Role] = mapped_column(EnumText(Role))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Adjustment(Base):
    """A release or clawback appended beside a settlement."""

    __tablename__ = "adjustments"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(ForeignKey("settlements.id"), index=True)
    post_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[AdjustmentKind] = mapped_column(EnumText(AdjustmentKind))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the request's Idempotency-Key, its hash and the answer given (replayed byte for byte)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True, unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)


class SettlementSignoff(Base):
    """A reviewer's or admin's sign-off of a ``needs_signoff`` settlement (one per settlement)."""

    __tablename__ = "settlement_signoffs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(ForeignKey("settlements.id"), unique=True)
    actor: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """An append-only audit row (database triggers refuse updates and deletes)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(300), index=True)
    detail: Mapped[str] = mapped_column(Text, default="{}")


class ReviewCase(Base):
    """A held post, flagged account, creator or seller group of a settlement awaiting a reviewer.

    Status, assignee and lock are mutable. An account case's ``post_id`` is ``account:<account id>``,
    a creator case's ``creator:<creator id>``, a group case's ``group:<group key>`` (unique beside the
    settlement's posts).
    """

    __tablename__ = "review_cases"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(ForeignKey("settlements.id"))
    post_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[CaseKind] = mapped_column(EnumText(CaseKind), default=CaseKind.POST, server_default="post")
    account_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    campaign_id: Mapped[str] = mapped_column(String(200), index=True)
    platform: Mapped[str] = mapped_column(String(64))
    creator_id: Mapped[str] = mapped_column(String(200))
    held_amount: Mapped[Decimal] = mapped_column(MONEY)
    reasons: Mapped[str] = mapped_column(Text, default="")
    needs_signoff: Mapped[bool] = mapped_column(Boolean, default=False)
    cutoff_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[CaseStatus] = mapped_column(EnumText(CaseStatus), default=CaseStatus.OPEN)
    assignee: Mapped[str | None] = mapped_column(String(32), nullable=True)
    assignee_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # when decided; while status is ``deciding``, since when (a stuck decision is found by it)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # a case policy would decide, queued anyway as a label-quality sample
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # why it reached a reviewer (None: flagged, always queued) and with what probability (None: 1,
    # or for an ``is_sample`` case of an older database, the service's review_sample_share)
    sample: Mapped[CaseSample | None] = mapped_column(EnumText(CaseSample), nullable=True)
    sampled_with_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    __table_args__ = (
        UniqueConstraint("settlement_id", "post_id", name="uq_review_case_post"),
        Index("ix_review_cases_status", "status"),
        Index("ix_review_cases_status_held", "status", "held_amount"),
        Index("uq_review_cases_account", "settlement_id", "account_id", unique=True),
    )


class ReviewDecision(Base):
    """A reviewer's (or the deadline's) decision on a case; append-only."""

    __tablename__ = "review_decisions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("review_cases.id"), unique=True)
    settlement_id: Mapped[str] = mapped_column(String(40), index=True)
    post_id: Mapped[str] = mapped_column(String(200))
    action: Mapped[ReviewAction] = mapped_column(EnumText(ReviewAction, 24))
    released: Mapped[Decimal] = mapped_column(MONEY)
    adjustment_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    note: Mapped[str] = mapped_column(Text)
    is_deadline: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(32))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewLabel(Base):
    """One account's label from a review decision (1 fraud, 0 clean); append-only."""

    __tablename__ = "review_labels"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("review_decisions.id"))
    account_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[int] = mapped_column(Integer)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    post_id: Mapped[str] = mapped_column(String(200))
    campaign_id: Mapped[str] = mapped_column(String(200))
    settlement_id: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(32))


class ReviewReopen(Base):
    """An admin's reopening of a decided case: its decision's labels are superseded; append-only.

    The decided case keeps its decision (renamed ``reopened:<n>:<post id>``); ``new_case_id`` is the
    open case that replaces it under the original ``post_id``.
    """

    __tablename__ = "review_reopens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("review_decisions.id"), unique=True)
    case_id: Mapped[str] = mapped_column(String(40))
    new_case_id: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewDispute(Base):
    """A brand's dispute of a creator's money in a settlement, filed through the API; append-only.

    It marks the creator's case a dispute (``ReviewCase.sample``); ``post_id`` is the post named
    first, if one was.
    """

    __tablename__ = "review_disputes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("review_cases.id"), unique=True)
    settlement_id: Mapped[str] = mapped_column(String(40), index=True)
    creator_id: Mapped[str] = mapped_column(String(200))
    post_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewCasePost(Base):
    """A case's money on one post of its settlement, split held and withheld, beside the line's own.

    Cases of one kind never share an engagement, so the queue counts a post's money once as the
    largest of its kinds' sums; a case's money still kept is capped by what the line still keeps.
    """

    __tablename__ = "review_case_posts"
    case_id: Mapped[str] = mapped_column(ForeignKey("review_cases.id"), primary_key=True)
    post_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))
    held: Mapped[Decimal] = mapped_column(MONEY)
    withheld: Mapped[Decimal] = mapped_column(MONEY)
    line_held: Mapped[Decimal] = mapped_column(MONEY)
    line_withheld: Mapped[Decimal] = mapped_column(MONEY)
    __table_args__ = (Index("ix_review_case_posts_post", "settlement_id", "post_id", "kind", "case_id"),)


class ReviewGroupLink(Base):
    """A group case's place in a seller group found across settlements (``group_id``), with its members."""

    __tablename__ = "review_group_links"
    case_id: Mapped[str] = mapped_column(ForeignKey("review_cases.id"), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(40))
    members: Mapped[str] = mapped_column(Text)  # ';'-joined, sorted
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_review_group_links_group", "group_id"),)


class ReviewView(Base):
    """A reviewer's saved queue view: its name and the queue's query string (filters and sort)."""

    __tablename__ = "review_views"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("key_id", "name", name="uq_review_view_name"),)


class ReviewSession(Base):
    """A signed-in review console session: only the token's SHA-256 is stored."""

    __tablename__ = "review_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ReputationEntry(Base):
    """An account a detection run confirmed on structural evidence or a reviewer judged; append-only.

    ``verdict`` is ``confirmed`` or ``cleared`` (a cleared account is remembered as cleared:
    it overrides the confirmations established before it). ``source`` is ``run`` or ``case``
    and ``source_id`` the run or case that established it; ``established_at`` is in the events'
    time (the account's last structurally invalid engagement of the run; a case's settlement
    period end, or its decision if earlier), and reputation decays from it.
    """

    __tablename__ = "reputation"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(40))
    established_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("source_id", "account_id", name="uq_reputation_source_account"),
        Index("ix_reputation_account_established", "account_id", "established_at"),
        Index("ix_reputation_recorded", "recorded_at"),
    )


class ReputationSubject(Base):
    """A device or IP farm, or a seller group's member account, a detection run confirmed; append-only.

    ``subject_kind`` is ``device``, ``ip`` or ``group`` (for a group, ``subject_id`` is the
    member account and ``detail`` the group, e.g. "pool group of 14 accounts"); the other
    columns read as ``ReputationEntry``'s. ``cleared`` entries void the same subject's
    confirmations established before them.
    """

    __tablename__ = "reputation_subjects"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(40))
    established_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("source_id", "subject_kind", "subject_id", name="uq_reputation_subjects_source"),
        Index("ix_reputation_subjects_subject", "subject_kind", "subject_id", "established_at"),
        Index("ix_reputation_subjects_recorded", "recorded_at"),
    )
