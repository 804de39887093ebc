"""subscribers: kinds of mail per subscription (digest, alerts by topic) and the welcome mail

A confirmed subscription gets the digest unless the reader left it, and alerts only
when the reader opted in (for every topic, or the topics in ``alert_topics``).
``welcomed_at`` records the welcome mail, sent once per confirmation.

Revision ID: subscribers_0003
Revises: subscribers_0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter.db import UTCDateTime

revision: str = "subscribers_0003"
down_revision: str | Sequence[str] | None = "subscribers_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("digests", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column("alerts", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("alert_topics", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("welcomed_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("welcomed_at")
        batch_op.drop_column("alert_topics")
        batch_op.drop_column("alerts")
        batch_op.drop_column("digests")
