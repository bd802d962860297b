"""Initial schema: keys, campaigns, event index, detection runs, settlements, adjustments, audit.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.migrations.append_only import append_only, drop_append_only

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)
PRICE = sa.Numeric(18, 6)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table, and triggers that make the audit log append-only."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.String(200), primary_key=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("price_like", PRICE, nullable=False),
        sa.Column("price_favorite", PRICE, nullable=False),
        sa.Column("price_comment", PRICE, nullable=False),
        sa.Column("price_share", PRICE, nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("window_end", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "ingest_batches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("duplicates", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("campaign_id", sa.String(200), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("ingest_batches.id"), nullable=False),
    )
    op.create_index("ix_events_ts", "events", ["ts"])
    op.create_index("ix_events_campaign_ts", "events", ["campaign_id", "ts"])
    _settlement_tables()


def _settlement_tables() -> None:
    """Detection runs, settlements and their posts."""
    op.create_table(
        "detection_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("n_events", sa.Integer, nullable=False),
        sa.Column("last_batch_id", sa.Integer, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("rules_version", sa.String(64), nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
    )
    op.create_table(
        "settlements",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(200), nullable=False),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_amount", MONEY, nullable=False),
        sa.Column("payable_amount", MONEY, nullable=False),
        sa.Column("held_amount", MONEY, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("campaign_id", "period_start", "period_end", name="uq_settlement_period"),
    )
    op.create_table(
        "settlement_posts",
        sa.Column("settlement_id", sa.String(40), sa.ForeignKey("settlements.id"), primary_key=True),
        sa.Column("post_id", sa.String(200), primary_key=True),
        sa.Column("creator_id", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("payable", MONEY, nullable=False),
        sa.Column("held_amount", MONEY, nullable=False),
    )
    op.create_index("ix_settlement_posts_creator_id", "settlement_posts", ["creator_id"])
    _ledger_tables()


def _ledger_tables() -> None:
    """Adjustments and the audit log; settlements, adjustments and the log made append-only."""
    op.create_table(
        "adjustments",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("settlement_id", sa.String(40), sa.ForeignKey("settlements.id"), nullable=False),
        sa.Column("post_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_adjustments_settlement_id", "adjustments", ["settlement_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target"])
    append_only("audit_log")
    append_only("settlements")
    append_only("adjustments")


def downgrade() -> None:
    """Drop everything (the audit log included: only for throwaway databases)."""
    for table in ("audit_log", "settlements", "adjustments"):
        drop_append_only(table)
    for table in (
        "audit_log",
        "adjustments",
        "settlement_posts",
        "settlements",
        "detection_runs",
        "events",
        "ingest_batches",
        "campaigns",
        "api_keys",
    ):
        op.drop_table(table)
