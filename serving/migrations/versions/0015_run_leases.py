"""Detection runs name the process executing them and hold a lease it renews while it runs.

Several service processes over one home: a process marks failed only the runs whose lease
expired (``serving.run_leases``), not every run it does not execute itself. Runs made before
this migration have no owner and no lease: the next start marks them failed if unfinished, as
before.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``owner`` (host, pid and start token of the executing process) and ``lease_until``."""
    op.add_column("detection_runs", sa.Column("owner", sa.String(200), nullable=False, server_default=""))
    op.add_column("detection_runs", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop the runs' owners and leases (only for throwaway databases)."""
    with op.batch_alter_table("detection_runs") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
