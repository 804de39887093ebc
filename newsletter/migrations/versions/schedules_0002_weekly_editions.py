"""schedules: a weekly roundup is scheduled beside the daily edition of its date

Revision ID: schedules_0002
Revises: schedules_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "schedules_0002"
down_revision: str | Sequence[str] | None = "schedules_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scheduled_editions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cadence", sa.String(length=32), nullable=False, server_default="daily")
        )
        batch_op.drop_constraint(
            "uq_scheduled_editions_publication_id_edition_date", type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_scheduled_editions_publication_id_edition_date_cadence"),
            ["publication_id", "edition_date", "cadence"],
        )


def downgrade() -> None:
    op.execute("DELETE FROM scheduled_editions WHERE cadence <> 'daily'")
    with op.batch_alter_table("scheduled_editions", schema=None) as batch_op:
        batch_op.drop_constraint(
            "uq_scheduled_editions_publication_id_edition_date_cadence", type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_scheduled_editions_publication_id_edition_date"),
            ["publication_id", "edition_date"],
        )
        batch_op.drop_column("cadence")
