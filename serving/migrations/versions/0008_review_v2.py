"""Review console v2: label-quality samples, and decisions an admin reopened (their labels superseded).

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.migrations.append_only import append_only, drop_append_only

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Mark sampled cases; index what the queue filters and sorts by."""
    with op.batch_alter_table("review_cases") as batch:
        batch.add_column(sa.Column("is_sample", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_review_cases_status_held", "review_cases", ["status", "held_amount"])
    op.create_table(
        "review_reopens",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "decision_id", sa.String(40), sa.ForeignKey("review_decisions.id"), nullable=False, unique=True
        ),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("new_case_id", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    append_only("review_reopens")


def downgrade() -> None:
    """Drop the reopens, the sample mark and the queue index."""
    drop_append_only("review_reopens")
    op.drop_table("review_reopens")
    op.drop_index("ix_review_cases_status_held", table_name="review_cases")
    with op.batch_alter_table("review_cases") as batch:
        batch.drop_column("is_sample")
