"""Reputation that persists: accounts earlier runs confirmed and reviewers judged, with their source.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.migrations.append_only import append_only, drop_append_only

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the append-only ``reputation`` table."""
    op.create_table(
        "reputation",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(40), nullable=False),
        sa.Column("established_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.UniqueConstraint("source_id", "account_id", name="uq_reputation_source_account"),
    )
    op.create_index("ix_reputation_account_established", "reputation", ["account_id", "established_at"])
    append_only("reputation")


def downgrade() -> None:
    """Drop the reputation (only for throwaway databases)."""
    drop_append_only("reputation")
    op.drop_index("ix_reputation_account_established", table_name="reputation")
    op.drop_table("reputation")
