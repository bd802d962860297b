"""The review console's tables: cases, their decisions, labels, reopens and disputes, each case's money
per post and group link, saved views and sign-in sessions (re-exported by ``serving.db.models``)."""

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
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from serving.db.base import MONEY, Base
from serving.statuses import (
    CaseKind,
    CaseSample,
    CaseStatus,
    EnumText,
    ReviewAction,
)


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
