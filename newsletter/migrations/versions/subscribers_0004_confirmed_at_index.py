"""subscribers: an index on subscriptions.confirmed_at

The tick looks for recent confirmations every minute (welcome mails still owed, readers
to catch up on today's edition); with the index it reads only those, not the list.

Revision ID: subscribers_0004
Revises: subscribers_0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "subscribers_0004"
down_revision: str | Sequence[str] | None = "subscribers_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_subscriptions_confirmed_at", "subscriptions", ["confirmed_at"])


def downgrade() -> None:
    op.drop_index("ix_subscriptions_confirmed_at", table_name="subscriptions")
