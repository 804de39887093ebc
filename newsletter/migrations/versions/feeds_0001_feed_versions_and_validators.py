"""feeds: a version counter per publication raised by triggers, and feed validators

Revision ID: feeds_0001
Revises:
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import newsletter.db
from newsletter.feeds.models_db import create_triggers, drop_triggers

revision: str = "feeds_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("feeds",)
depends_on: str | Sequence[str] | None = ["briefings_0002", "publications_0002"]


def upgrade() -> None:
    op.create_table(
        "feed_versions",
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_feed_versions_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("publication_id", name=op.f("pk_feed_versions")),
    )
    op.create_table(
        "feed_documents",
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=200), nullable=False),
        sa.Column("fmt", sa.String(length=8), nullable=False),
        sa.Column("etag", sa.String(length=80), nullable=False),
        sa.Column("last_modified", newsletter.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_feed_documents_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("publication_id", "kind", "fmt", name=op.f("pk_feed_documents")),
    )
    op.create_index("ix_digest_items_briefing_id", "digest_items", ["briefing_id"], unique=False)
    op.execute("INSERT INTO feed_versions (publication_id, version) SELECT id, 1 FROM publications")
    for statement in create_triggers(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_triggers(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_index("ix_digest_items_briefing_id", table_name="digest_items")
    op.drop_table("feed_documents")
    op.drop_table("feed_versions")
