"""Review cases of flagged accounts: a case kind (post or account) and the account it is about.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``kind`` (existing cases are post cases) and ``account_id``; one account case per settlement."""
    op.add_column("review_cases", sa.Column("kind", sa.String(16), nullable=False, server_default="post"))
    op.add_column("review_cases", sa.Column("account_id", sa.String(200), nullable=True))
    op.create_index("uq_review_cases_account", "review_cases", ["settlement_id", "account_id"], unique=True)


def downgrade() -> None:
    """Drop the account cases' columns (only for throwaway databases)."""
    op.drop_index("uq_review_cases_account", table_name="review_cases")
    with op.batch_alter_table("review_cases") as batch:
        batch.drop_column("account_id")
        batch.drop_column("kind")
