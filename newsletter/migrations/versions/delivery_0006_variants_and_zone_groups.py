"""delivery: each batch's topic variant and delivery instant; zone groups

Revision ID: delivery_0006
Revises: delivery_0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter.db import UTCDateTime

revision: str = "delivery_0006"
down_revision: str | Sequence[str] | None = "delivery_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("deliver_at", UTCDateTime(), nullable=True))
    op.create_table(
        "zone_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("deliver_at", UTCDateTime(), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("readers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest_id"],
            ["digests.id"],
            name=op.f("fk_zone_groups_digest_id_digests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zone_groups")),
        sa.UniqueConstraint(
            "digest_id", "deliver_at", name=op.f("uq_zone_groups_digest_id_deliver_at")
        ),
    )


def downgrade() -> None:
    op.drop_table("zone_groups")
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.drop_column("deliver_at")
        batch_op.drop_column("variant_id")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("variant_id")
