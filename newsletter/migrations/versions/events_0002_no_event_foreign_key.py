"""events: delivery events without a foreign key to their delivery

The applier inserts a set's events in one statement that takes each event's
delivery id from the deliveries row it has just found, so the key cannot fail;
and nothing deletes deliveries (an erased subscriber's stay, as anonymous
counts). The check still cost PostgreSQL a trigger, a lookup and a row lock on
the delivery (a WAL record) per event: about a fifth of applying an event.

Revision ID: events_0002
Revises: events_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "events_0002"
down_revision: str | Sequence[str] | None = "events_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_events", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("fk_delivery_events_delivery_id_deliveries"), type_="foreignkey"
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_events", schema=None) as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_delivery_events_delivery_id_deliveries"),
            "deliveries",
            ["delivery_id"],
            ["id"],
            ondelete="SET NULL",
        )
