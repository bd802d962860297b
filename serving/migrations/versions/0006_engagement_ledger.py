"""The engagement ledger (each event settled at most once) and settlements made in the background.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.migrations.append_only import append_only, drop_append_only

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# settlements made before the ledger: an event is covered by the earliest settlement of its
# campaign whose period holds it and that was made after the event arrived (late events stay open)
_BACKFILL = """
INSERT INTO settled_engagements (event_id, settlement_id, campaign_id, ts)
SELECT e.event_id, s.id, e.campaign_id, e.ts
FROM events e
JOIN ingest_batches b ON b.id = e.batch_id
JOIN settlements s ON s.campaign_id = e.campaign_id AND s.period_start <= e.ts AND e.ts < s.period_end
    AND s.created_at >= b.created_at
WHERE NOT EXISTS (
    SELECT 1 FROM settlements s2
    WHERE s2.campaign_id = e.campaign_id AND s2.period_start <= e.ts AND e.ts < s2.period_end
        AND s2.created_at >= b.created_at
        AND (s2.created_at < s.created_at OR (s2.created_at = s.created_at AND s2.id < s.id))
)
"""


def upgrade() -> None:
    """Add the append-only ``settled_engagements`` ledger (backfilled) and ``settlement_requests``."""
    op.create_table(
        "settled_engagements",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("settlement_id", sa.String(40), sa.ForeignKey("settlements.id"), nullable=False),
        sa.Column("campaign_id", sa.String(200), nullable=False),
        sa.Column("ts", TS, nullable=False),
    )
    op.create_index("ix_settled_engagements_settlement_id", "settled_engagements", ["settlement_id"])
    op.create_index("ix_settled_engagements_campaign_ts", "settled_engagements", ["campaign_id", "ts"])
    op.execute(_BACKFILL)
    append_only("settled_engagements")
    op.create_table(
        "settlement_requests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(200), nullable=False),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("error_status", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
    )


def downgrade() -> None:
    """Drop the ledger and the background requests (only for throwaway databases)."""
    op.drop_table("settlement_requests")
    drop_append_only("settled_engagements")
    op.drop_index("ix_settled_engagements_campaign_ts", table_name="settled_engagements")
    op.drop_index("ix_settled_engagements_settlement_id", table_name="settled_engagements")
    op.drop_table("settled_engagements")
