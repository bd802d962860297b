"""Reputation of devices, IPs and seller groups: farms and groups earlier runs confirmed, with their source.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.migrations.append_only import append_only, drop_append_only

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the append-only ``reputation_subjects`` table."""
    op.create_table(
        "reputation_subjects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(40), nullable=False),
        sa.Column("detail", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(40), nullable=False),
        sa.Column("established_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.UniqueConstraint("source_id", "subject_kind", "subject_id", name="uq_reputation_subjects_source"),
    )
    op.create_index(
        "ix_reputation_subjects_subject",
        "reputation_subjects",
        ["subject_kind", "subject_id", "established_at"],
    )
    op.create_index("ix_reputation_subjects_recorded", "reputation_subjects", ["recorded_at"])
    op.create_index("ix_reputation_recorded", "reputation", ["recorded_at"])
    append_only("reputation_subjects")


def downgrade() -> None:
    """Drop the subjects' reputation (only for throwaway databases)."""
    drop_append_only("reputation_subjects")
    op.drop_index("ix_reputation_recorded", table_name="reputation")
    op.drop_index("ix_reputation_subjects_recorded", table_name="reputation_subjects")
    op.drop_index("ix_reputation_subjects_subject", table_name="reputation_subjects")
    op.drop_table("reputation_subjects")
