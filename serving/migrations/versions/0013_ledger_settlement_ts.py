"""The ledger keeps one index beside its key, on (settlement_id, ts): a period's settled events and
the settlements holding them are found by each settlement of the campaign, and a settlement's
claim of hundreds of thousands of events updates two indexes instead of three.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLE = "settled_engagements"


def upgrade() -> None:
    """Replace the (settlement_id) and (campaign_id, ts) indexes by one on (settlement_id, ts)."""
    op.create_index("ix_settled_engagements_settlement_ts", TABLE, ["settlement_id", "ts"])
    op.drop_index("ix_settled_engagements_settlement_id", table_name=TABLE)
    op.drop_index("ix_settled_engagements_campaign_ts", table_name=TABLE)


def downgrade() -> None:
    """Put the two indexes of 0006 back."""
    op.create_index("ix_settled_engagements_campaign_ts", TABLE, ["campaign_id", "ts"])
    op.create_index("ix_settled_engagements_settlement_id", TABLE, ["settlement_id"])
    op.drop_index("ix_settled_engagements_settlement_ts", table_name=TABLE)
