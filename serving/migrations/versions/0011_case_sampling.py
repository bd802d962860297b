"""How a review case was sampled (kind and probability), and the brands' disputes of creators' money.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.migrations.append_only import append_only, drop_append_only

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the cases' sample kind and probability, and the append-only ``review_disputes`` table."""
    with op.batch_alter_table("review_cases") as batch:
        batch.add_column(sa.Column("sample", sa.String(16), nullable=True))
        batch.add_column(sa.Column("sampled_with_probability", sa.Float(), nullable=True))
    op.create_table(
        "review_disputes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("review_cases.id"), nullable=False, unique=True),
        sa.Column("settlement_id", sa.String(40), nullable=False),
        sa.Column("creator_id", sa.String(200), nullable=False),
        sa.Column("post_id", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_review_disputes_settlement_id", "review_disputes", ["settlement_id"])
    append_only("review_disputes")


def downgrade() -> None:
    """Drop the disputes and the sampling columns (only for throwaway databases)."""
    drop_append_only("review_disputes")
    op.drop_index("ix_review_disputes_settlement_id", table_name="review_disputes")
    op.drop_table("review_disputes")
    with op.batch_alter_table("review_cases") as batch:
        batch.drop_column("sampled_with_probability")
        batch.drop_column("sample")
