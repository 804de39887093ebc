"""digests: weekly roundups beside daily editions, and topic variants of an edition

A roundup carries briefings daily editions carried, so the rule "one briefing in
one edition of a publication" becomes one per cadence.

Revision ID: digests_0004
Revises: digests_0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter.db import UTCDateTime
from newsletter.feeds.models_db import create_triggers, drop_triggers

revision: str = "digests_0004"
down_revision: str | Sequence[str] | None = "digests_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _without_feed_triggers() -> bool:
    """On SQLite, drop the feed triggers (a rebuilt table breaks them); whether there were any.

    SQLite changes a unique constraint by copying the table and renaming the copy,
    which it refuses while a trigger elsewhere names the table. PostgreSQL alters in
    place and keeps them.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return False
    found = bind.execute(
        sa.text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'feeds_%'")
    ).scalar()
    for statement in drop_triggers("sqlite") if found else ():
        op.execute(statement)
    return bool(found)


def _restore_feed_triggers(dropped: bool) -> None:
    for statement in create_triggers("sqlite") if dropped else ():
        op.execute(statement)


def upgrade() -> None:
    dropped = _without_feed_triggers()
    _upgrade()
    _restore_feed_triggers(dropped)


def downgrade() -> None:
    dropped = _without_feed_triggers()
    _downgrade()
    _restore_feed_triggers(dropped)


def _upgrade() -> None:
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cadence", sa.String(length=32), nullable=False, server_default="daily")
        )
        batch_op.drop_constraint("uq_digests_publication_id_edition_date", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_digests_publication_id_edition_date_cadence"),
            ["publication_id", "edition_date", "cadence"],
        )
    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cadence", sa.String(length=32), nullable=False, server_default="daily")
        )
        batch_op.drop_constraint("uq_digest_items_publication_id_briefing_id", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_digest_items_publication_id_cadence_briefing_id"),
            ["publication_id", "cadence", "briefing_id"],
        )
    op.create_table(
        "digest_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("positions", sa.JSON(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("preheader", sa.String(length=500), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html_bytes", sa.Integer(), nullable=False),
        sa.Column("rendered_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest_id"],
            ["digests.id"],
            name=op.f("fk_digest_variants_digest_id_digests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_variants")),
        sa.UniqueConstraint("digest_id", "key", name=op.f("uq_digest_variants_digest_id_key")),
    )


def _downgrade() -> None:
    op.drop_table("digest_variants")
    op.execute("DELETE FROM digest_items WHERE cadence <> 'daily'")
    op.execute("DELETE FROM digests WHERE cadence <> 'daily'")
    with op.batch_alter_table("digest_items", schema=None) as batch_op:
        batch_op.drop_constraint(
            "uq_digest_items_publication_id_cadence_briefing_id", type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_digest_items_publication_id_briefing_id"),
            ["publication_id", "briefing_id"],
        )
        batch_op.drop_column("cadence")
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_constraint("uq_digests_publication_id_edition_date_cadence", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_digests_publication_id_edition_date"),
            ["publication_id", "edition_date"],
        )
        batch_op.drop_column("cadence")
