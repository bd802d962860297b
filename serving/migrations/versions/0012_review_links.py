"""Review console v2, second part: money per case and post, seller groups linked across settlements,
and saved queue views per reviewer.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add ``review_case_posts``, ``review_group_links`` and ``review_views``."""
    op.create_table(
        "review_case_posts",
        sa.Column("case_id", sa.String(40), sa.ForeignKey("review_cases.id"), primary_key=True),
        sa.Column("post_id", sa.String(200), primary_key=True),
        sa.Column("settlement_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("held", MONEY, nullable=False),
        sa.Column("withheld", MONEY, nullable=False),
        sa.Column("line_held", MONEY, nullable=False),
        sa.Column("line_withheld", MONEY, nullable=False),
    )
    op.create_index(
        "ix_review_case_posts_post", "review_case_posts", ["settlement_id", "post_id", "kind", "case_id"]
    )
    op.create_table(
        "review_group_links",
        sa.Column("case_id", sa.String(40), sa.ForeignKey("review_cases.id"), primary_key=True),
        sa.Column("group_id", sa.String(40), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_review_group_links_group", "review_group_links", ["group_id"])
    op.create_table(
        "review_views",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("key_id", sa.String(32), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("key_id", "name", name="uq_review_view_name"),
    )


def downgrade() -> None:
    """Drop the saved views, group links and money per case and post."""
    op.drop_table("review_views")
    op.drop_index("ix_review_group_links_group", table_name="review_group_links")
    op.drop_table("review_group_links")
    op.drop_index("ix_review_case_posts_post", table_name="review_case_posts")
    op.drop_table("review_case_posts")
