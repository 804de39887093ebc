"""delivery: the provider circuit breaker, and the mark of a batch's outstanding message

``provider_breakers`` holds one row per provider: consecutive transient failures
across every worker process, and when the breaker is open, the time of the next
probe and the lease of the probe in flight (see ``newsletter/delivery/breaker.py``).
``send_batches.enqueued_for`` records when the batch's outstanding ``send_batch``
message is due at a worker, so the tick sends one only when none is out.

Revision ID: delivery_0004
Revises: delivery_0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import newsletter.db

revision: str = "delivery_0004"
down_revision: str | Sequence[str] | None = "delivery_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_breakers",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", newsletter.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("probe_at", newsletter.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("probe_until", newsletter.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", newsletter.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_provider_breakers")),
    )
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("enqueued_for", newsletter.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.drop_column("enqueued_for")
    op.drop_table("provider_breakers")
