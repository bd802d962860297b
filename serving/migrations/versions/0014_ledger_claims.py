"""The engagement ledger becomes a ledger of claims: a few rows per settlement instead of one per event.

A claim holds a campaign's stored events in ``[ts_start, ts_end)`` of the ingest batches
``(batch_after, batch_through]``; a campaign's claims never overlap, which the database itself
refuses (PostgreSQL: an exclusion constraint over ``btree_gist``; SQLite: a trigger, its single
writer serialising the check and the insert). Stored events become append-only, so what a
claim holds never changes. ``settled_engagements`` stays as it is and is read beside the
claims: an event it lists is settled by its settlement (those settlements came first).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.migrations.append_only import append_only, drop_append_only

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLE = "settlement_claims"
TS = sa.DateTime(timezone=True)
BATCH = sa.BigInteger().with_variant(sa.Integer, "sqlite")

# two claims overlap when they share the campaign, a moment and a batch
_OVERLAP = (
    "c.campaign_id = NEW.campaign_id AND c.ts_start < NEW.ts_end AND NEW.ts_start < c.ts_end "
    "AND c.batch_after < NEW.batch_through AND NEW.batch_after < c.batch_through"
)


def upgrade() -> None:
    """Add ``settlement_claims`` (append-only, overlaps refused) and make ``events`` append-only."""
    op.create_table(
        TABLE,
        sa.Column("id", BATCH, primary_key=True, autoincrement=True),
        sa.Column("settlement_id", sa.String(40), sa.ForeignKey("settlements.id"), nullable=False),
        sa.Column("campaign_id", sa.String(200), nullable=False),
        sa.Column("ts_start", TS, nullable=False),
        sa.Column("ts_end", TS, nullable=False),
        sa.Column("batch_after", BATCH, nullable=False),
        sa.Column("batch_through", BATCH, nullable=False),
        sa.CheckConstraint(
            "ts_start < ts_end AND batch_after < batch_through", name="ck_settlement_claims_box"
        ),
    )
    op.create_index("ix_settlement_claims_campaign_ts", TABLE, ["campaign_id", "ts_start"])
    op.create_index("ix_settlement_claims_settlement", TABLE, ["settlement_id"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_overlap BEFORE INSERT ON {TABLE} "
            f"WHEN EXISTS (SELECT 1 FROM {TABLE} c WHERE {_OVERLAP}) "
            f"BEGIN SELECT RAISE(ABORT, '{TABLE}: the claim overlaps an earlier claim'); END"
        )
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT ex_settlement_claims_overlap EXCLUDE USING gist "
            "(campaign_id WITH =, tstzrange(ts_start, ts_end, '[)') WITH &&, "
            "int8range(batch_after, batch_through, '(]') WITH &&)"
        )
    append_only(TABLE)
    append_only("events")


def downgrade() -> None:
    """Drop the claims (only for throwaway databases: settlements made since lose their claims)."""
    drop_append_only("events")
    drop_append_only(TABLE)
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_overlap")
    op.drop_index("ix_settlement_claims_settlement", table_name=TABLE)
    op.drop_index("ix_settlement_claims_campaign_ts", table_name=TABLE)
    op.drop_table(TABLE)
