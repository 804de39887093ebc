"""delivery: scheduled, cancellable sends; deadline-bounded retries; started requests

``provider_groups`` holds the provider batch ids an edition's requests are sent under
ahead of its delivery instant (cancellable together until ten minutes before it).
Batches learn their group, the deadline their retries are bounded by, and whether
their request was started; deliveries record whether a failure was transient.
New state values (``scheduled``) need no DDL: states are stored as strings.

Revision ID: delivery_0003
Revises: delivery_0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import newsletter.db

revision: str = "delivery_0003"
down_revision: str | Sequence[str] | None = "delivery_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GROUP_STATES = ("open", "cancelling", "cancelled", "released")


def upgrade() -> None:
    op.create_table(
        "provider_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("provider_batch_id", sa.String(length=200), nullable=False),
        sa.Column("send_at", newsletter.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "state",
            sa.Enum(*_GROUP_STATES, name="group_state", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lifted_at", newsletter.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", newsletter.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", newsletter.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest_id"],
            ["digests.id"],
            name=op.f("fk_provider_groups_digest_id_digests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_groups")),
        sa.UniqueConstraint("provider_batch_id", name=op.f("uq_provider_groups_provider_batch_id")),
    )
    with op.batch_alter_table("provider_groups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provider_groups_state_send_at", ["state", "send_at"], unique=False
        )
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("request_started_at", newsletter.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("deliver_by", newsletter.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch_op.create_index(op.f("ix_send_batches_group_id"), ["group_id"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "failure",
                sa.Enum(
                    "transient", "permanent", name="failure_kind", native_enum=False, length=32
                ),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("failure")
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.drop_index(op.f("ix_send_batches_group_id"))
        batch_op.drop_column("group_id")
        batch_op.drop_column("deliver_by")
        batch_op.drop_column("request_started_at")
    with op.batch_alter_table("provider_groups", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_groups_state_send_at")
    op.drop_table("provider_groups")
