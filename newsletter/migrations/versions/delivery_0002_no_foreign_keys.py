"""delivery: deliveries without foreign keys

A foreign key costs PostgreSQL one trigger and one lookup per inserted row, and
planning a million-recipient edition inserts a million deliveries in one
statement: the two checks made it about three times slower. Planning inserts
deliveries only for the digest it holds locked, with batches it has just
created, so neither check can fail; and nothing deletes digests or batches.

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
        batch_op.drop_constraint(op.f("fk_deliveries_digest_id_digests"), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_deliveries_digest_id_digests"),
            "digests",
            ["digest_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            op.f("fk_deliveries_batch_id_send_batches"),
            "send_batches",
            ["batch_id"],
            ["id"],
            ondelete="SET NULL",
        )
