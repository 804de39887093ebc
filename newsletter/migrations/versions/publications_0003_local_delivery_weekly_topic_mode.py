"""publications: local delivery, weekly roundup days and size, topic mode

Revision ID: publications_0003
Revises: publications_0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "publications_0003"
down_revision: str | Sequence[str] | None = "publications_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("local_delivery", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("weekly_days", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column("weekly_max", sa.Integer(), nullable=False, server_default="10")
        )
        batch_op.add_column(
            sa.Column("topic_mode", sa.String(length=32), nullable=False, server_default="only")
        )


def downgrade() -> None:
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.drop_column("topic_mode")
        batch_op.drop_column("weekly_max")
        batch_op.drop_column("weekly_days")
        batch_op.drop_column("local_delivery")
