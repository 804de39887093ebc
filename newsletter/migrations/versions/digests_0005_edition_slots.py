"""digests: an edition is unique per (publication, date, cadence, slot)

``slot`` is empty for a publication's main schedule, the slot's name for a named slot
("morning", "evening"), and the alert's own key for an alert.

Revision ID: digests_0005
Revises: digests_0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter.feeds.models_db import create_triggers, drop_triggers

revision: str = "digests_0005"
down_revision: str | Sequence[str] | None = "digests_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _without_feed_triggers() -> bool:
    """On SQLite, drop the feed triggers while the table is rebuilt (see digests_0004)."""
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
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("slot", sa.String(length=40), nullable=False, server_default="")
        )
        batch_op.drop_constraint("uq_digests_publication_id_edition_date_cadence", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_digests_publication_id_edition_date_cadence_slot"),
            ["publication_id", "edition_date", "cadence", "slot"],
        )
    _restore_feed_triggers(dropped)


def downgrade() -> None:
    dropped = _without_feed_triggers()
    op.execute("DELETE FROM digests WHERE slot <> ''")
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_constraint(
            "uq_digests_publication_id_edition_date_cadence_slot", type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_digests_publication_id_edition_date_cadence"),
            ["publication_id", "edition_date", "cadence"],
        )
        batch_op.drop_column("slot")
    _restore_feed_triggers(dropped)
