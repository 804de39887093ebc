"""publications: alert limit, SendGrid unsubscribe groups per kind of mail, welcome mail

Revision ID: publications_0004
Revises: publications_0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "publications_0004"
down_revision: str | Sequence[str] | None = "publications_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("alerts_per_day", sa.Integer(), nullable=False, server_default="3")
        )
        batch_op.add_column(sa.Column("digest_group_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("alert_group_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("welcome_subject", sa.String(length=300), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("welcome_body", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.drop_column("welcome_body")
        batch_op.drop_column("welcome_subject")
        batch_op.drop_column("alert_group_id")
        batch_op.drop_column("digest_group_id")
        batch_op.drop_column("alerts_per_day")
