"""Background settlements name the process making them and hold a lease it renews while it makes them.

Several service processes over one home: a process marks failed only the background settlements
whose owner is gone (``serving.run_leases``, as detection runs since 0015), not every one it does
not make itself. Requests made before this migration have no owner and no lease: the next start
marks them failed if unfinished, as before.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``owner`` (host, pid and start token of the making process) and ``lease_until``."""
    op.add_column(
        "settlement_requests", sa.Column("owner", sa.String(200), nullable=False, server_default="")
    )
    op.add_column("settlement_requests", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop the background settlements' owners and leases (only for throwaway databases)."""
    with op.batch_alter_table("settlement_requests") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
