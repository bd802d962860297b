"""The thresholds a detection run scored with, so that review judges by the run, not the service.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``params`` (the run scorer's ScoringParams as JSON; empty on runs made before it)."""
    op.add_column("detection_runs", sa.Column("params", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    """Drop the runs' params (only for throwaway databases)."""
    with op.batch_alter_table("detection_runs") as batch:
        batch.drop_column("params")
