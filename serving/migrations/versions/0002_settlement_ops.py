"""Settlement operations: idempotent adjustments, sign-offs, a covering index of the event index.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.migrations.append_only import append_only, drop_append_only

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the adjustments' idempotency columns, the sign-off table and the covering event index."""
    op.add_column("adjustments", sa.Column("idempotency_key", sa.String(255), nullable=True))
    op.add_column("adjustments", sa.Column("request_hash", sa.String(64), nullable=True))
    op.add_column("adjustments", sa.Column("body", sa.Text, nullable=True))
    op.create_index("uq_adjustments_idempotency_key", "adjustments", ["idempotency_key"], unique=True)
    op.create_table(
        "settlement_signoffs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "settlement_id", sa.String(40), sa.ForeignKey("settlements.id"), nullable=False, unique=True
        ),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    append_only("settlement_signoffs")
    op.create_index("ix_events_campaign_ts_batch", "events", ["campaign_id", "ts", "batch_id"])
    op.drop_index("ix_events_campaign_ts", table_name="events")


def downgrade() -> None:
    """Undo 0002 (the sign-off records are dropped: only for throwaway databases)."""
    op.create_index("ix_events_campaign_ts", "events", ["campaign_id", "ts"])
    op.drop_index("ix_events_campaign_ts_batch", table_name="events")
    drop_append_only("settlement_signoffs")
    op.drop_table("settlement_signoffs")
    op.drop_index("uq_adjustments_idempotency_key", table_name="adjustments")
    with op.batch_alter_table("adjustments") as batch:
        batch.drop_column("body")
        batch.drop_column("request_hash")
        batch.drop_column("idempotency_key")
