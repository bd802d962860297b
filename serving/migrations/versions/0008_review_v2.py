"""Review console v2: cases queued as a label-quality sample of policy decisions.

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Mark sampled cases; index what the queue filters and sorts by."""
    with op.batch_alter_table("review_cases") as batch:
        batch.add_column(sa.Column("is_sample", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_review_cases_status_held", "review_cases", ["status", "held_amount"])


def downgrade() -> None:
    """Drop the sample mark and the queue index."""
    op.drop_index("ix_review_cases_status_held", table_name="review_cases")
    with op.batch_alter_table("review_cases") as batch:
        batch.drop_column("is_sample")
