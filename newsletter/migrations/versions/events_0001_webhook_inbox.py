"""events: the Event Webhook's inbox of verified posts, applied later in sets

``webhook_posts`` keeps each verified post as received until an applier takes it,
in id order, and marks it applied in the same transaction as its effects. The
index on (applied_at, id) finds the pending posts (applied_at IS NULL) in order,
and the old applied ones for pruning.

Revision ID: events_0001
Revises:
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import newsletter.db

revision: str = "events_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("events",)
depends_on: str | Sequence[str] | None = "delivery_0003"


def upgrade() -> None:
    op.create_table(
        "webhook_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", newsletter.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("applied_at", newsletter.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_posts")),
    )
    with op.batch_alter_table("webhook_posts", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_posts_applied_at_id", ["applied_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_posts_applied_at_id")
    op.drop_table("webhook_posts")
