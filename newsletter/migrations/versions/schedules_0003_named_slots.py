"""schedules: named slots (morning, evening), each with its time, weekdays and cut-off

A scheduled edition is unique per (publication, date, cadence, slot); ``slot`` is
empty for the publication's main schedule.

Revision ID: schedules_0003
Revises: schedules_0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter.db import UTCDateTime

revision: str = "schedules_0003"
down_revision: str | Sequence[str] | None = "schedules_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("send_time", sa.Time(), nullable=False),
        sa.Column("weekdays", sa.JSON(), nullable=False),
        sa.Column("cutoff_minutes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_schedule_slots_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_slots")),
        sa.UniqueConstraint(
            "publication_id", "name", name=op.f("uq_schedule_slots_publication_id_name")
        ),
    )
    with op.batch_alter_table("scheduled_editions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("slot", sa.String(length=40), nullable=False, server_default="")
        )
        batch_op.drop_constraint(
            "uq_scheduled_editions_publication_id_edition_date_cadence", type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_scheduled_editions_publication_id_edition_date_cadence_slot"),
            ["publication_id", "edition_date", "cadence", "slot"],
        )


def downgrade() -> None:
    op.execute("DELETE FROM scheduled_editions WHERE slot <> ''")
    with op.batch_alter_table("scheduled_editions", schema=None) as batch_op:
        batch_op.drop_constraint(
            "uq_scheduled_editions_publication_id_edition_date_cadence_slot", type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_scheduled_editions_publication_id_edition_date_cadence"),
            ["publication_id", "edition_date", "cadence"],
        )
        batch_op.drop_column("slot")
    op.drop_table("schedule_slots")
