"""delivery: deliveries.batch_id without a foreign key

A foreign key costs PostgreSQL one trigger and one lookup per inserted row:
planning a million-recipient edition COPYs a million deliveries, and the check on
``batch_id`` made that COPY about half again as slow. Batches are only ever deleted
with their digest, which deletes the deliveries too (``digest_id`` keeps its key).

Revision ID: delivery_0002
Revises: delivery_0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "delivery_0002"
down_revision: str | Sequence[str] | None = "delivery_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_deliveries_batch_id_send_batches"), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_deliveries_batch_id_send_batches"),
            "send_batches",
            ["batch_id"],
            ["id"],
            ondelete="SET NULL",
        )
