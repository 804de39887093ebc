"""subscribers: a reader's zone may be unset (the publication's), cadence and weekly day

Readers who already have a zone keep it, ``UTC`` included: a CSV import or the API
could set it, so it cannot be told from a default.

Revision ID: subscribers_0002
Revises: subscribers_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "subscribers_0002"
down_revision: str | Sequence[str] | None = "subscribers_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.alter_column("timezone", existing_type=sa.String(length=64), nullable=True)
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cadence", sa.String(length=32), nullable=False, server_default="daily")
        )
        batch_op.add_column(sa.Column("weekly_day", sa.String(length=3), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("weekly_day")
        batch_op.drop_column("cadence")
    op.execute("UPDATE subscribers SET timezone = 'UTC' WHERE timezone IS NULL")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.alter_column("timezone", existing_type=sa.String(length=64), nullable=False)
