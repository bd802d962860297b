"""The database tables of the settlement service (SQLAlchemy 2 declarative)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from serving.auth import Role
from serving.db.base import MONEY as MONEY
from serving.db.base import PRICE as PRICE
from serving.db.base import Base as Base
from serving.db.review_models import ReviewCase as ReviewCase
from serving.db.review_models import ReviewCasePost as ReviewCasePost
from serving.db.review_models import ReviewDecision as ReviewDecision
from serving.db.review_models import ReviewDispute as ReviewDispute
from serving.db.review_models import ReviewGroupLink as ReviewGroupLink
from serving.db.review_models import ReviewLabel as ReviewLabel
from serving.db.review_models import ReviewReopen as ReviewReopen
from serving.db.review_models import ReviewSession as ReviewSession
from serving.db.review_models import ReviewView as ReviewView
from serving.statuses import (
    AdjustmentKind,
    Decision,
    EnumText,
    RunStatus,
    SettlementStatus,
)


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
    # the process executing the run (``serving.run_leases``: host, pid, start token) and until when
    # its lease holds ("" and None on runs made before migration 0015)
    owner: Mapped[str] = mapped_column(String(200), default="")
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


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
    """The engagement ledger as it was until migration 0014: one row per event_id a settlement
    covered. Read, never written: earlier settlements keep their events here, and an event
    listed here is settled by that settlement whatever claim holds it (``SettlementClaim``).
    Append-only (database triggers).
    """

    __tablename__ = "settled_engagements"
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(ForeignKey("settlements.id"))
    campaign_id: Mapped[str] = mapped_column(String(200))
    # the event's time as the settlement saw it (finds a period's settled events without the events)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # a period's settled events and the settlements holding them, by each settlement of the
    # campaign; the ledger's one index beside its key, as each is paid on every claim (0013)
    __table_args__ = (Index("ix_settled_engagements_settlement_ts", "settlement_id", "ts"),)


class SettlementClaim(Base):
    """The engagement ledger since migration 0014: the part of a campaign a settlement claimed.

    A claim holds the campaign's stored events with ``ts_start <= ts < ts_end`` and
    ``batch_after < batch_id <= batch_through`` (the ingest batches its detection run read). A
    settlement's claims are its period and batches minus what earlier claims hold, so the
    claims of a campaign never overlap and an engagement is settled at most once: the database
    refuses an overlapping claim (an exclusion constraint on PostgreSQL, a trigger under
    SQLite's single writer; migration 0014). Stored events never change (append-only), so what
    a claim holds never changes either. Append-only (database triggers).
    """

    __tablename__ = "settlement_claims"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(ForeignKey("settlements.id"))
    campaign_id: Mapped[str] = mapped_column(String(200))
    ts_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ts_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    batch_after: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    batch_through: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    __table_args__ = (
        CheckConstraint("ts_start < ts_end AND batch_after < batch_through", name="ck_settlement_claims_box"),
        Index("ix_settlement_claims_campaign_ts", "campaign_id", "ts_start"),
        Index("ix_settlement_claims_settlement", "settlement_id"),
    )


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
    # the process making it and until when its lease holds (``serving.run_leases``, as a detection
    # run's; "" and None on requests made before migration 0016)
    owner: Mapped[str] = mapped_column(String(200), default="")
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


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
