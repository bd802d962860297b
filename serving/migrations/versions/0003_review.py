"""Review console: cases (with assignee and lock), decisions and labels (append-only), sessions.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.migrations.append_only import append_only, drop_append_only

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)
TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    """Create the review tables; decisions and labels refuse UPDATE and DELETE."""
    op.create_table(
        "review_cases",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("settlement_id", sa.String(40), sa.ForeignKey("settlements.id"), nullable=False),
        sa.Column("post_id", sa.String(200), nullable=False),
        sa.Column("campaign_id", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("creator_id", sa.String(200), nullable=False),
        sa.Column("held_amount", MONEY, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("needs_signoff", sa.Boolean, nullable=False),
        sa.Column("cutoff_at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(32), nullable=True),
        sa.Column("assignee_name", sa.String(200), nullable=True),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.UniqueConstraint("settlement_id", "post_id", name="uq_review_case_post"),
    )
    op.create_index("ix_review_cases_status", "review_cases", ["status"])
    op.create_index("ix_review_cases_campaign_id", "review_cases", ["campaign_id"])
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("review_cases.id"), nullable=False, unique=True),
        sa.Column("settlement_id", sa.String(40), nullable=False),
        sa.Column("post_id", sa.String(200), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("released", MONEY, nullable=False),
        sa.Column("adjustment_id", sa.String(40), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("is_deadline", sa.Boolean, nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("decided_at", TS, nullable=False),
    )
    op.create_index("ix_review_decisions_settlement_id", "review_decisions", ["settlement_id"])
    _label_tables()


def _label_tables() -> None:
    """Review labels and sessions; decisions and labels made append-only."""
    op.create_table(
        "review_labels",
        sa.Column("id", BIGID, primary_key=True),
        sa.Column("decision_id", sa.String(40), sa.ForeignKey("review_decisions.id"), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("label", sa.Integer, nullable=False),
        sa.Column("decided_at", TS, nullable=False),
        sa.Column("post_id", sa.String(200), nullable=False),
        sa.Column("campaign_id", sa.String(200), nullable=False),
        sa.Column("settlement_id", sa.String(40), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
    )
    op.create_index("ix_review_labels_decided_at", "review_labels", ["decided_at"])
    op.create_table(
        "review_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(32), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
    )
    append_only("review_decisions")
    append_only("review_labels")


def downgrade() -> None:
    """Drop the review tables (decisions and labels included: only for throwaway databases)."""
    for table in ("review_decisions", "review_labels"):
        drop_append_only(table)
    for table in ("review_sessions", "review_labels", "review_decisions", "review_cases"):
        op.drop_table(table)
