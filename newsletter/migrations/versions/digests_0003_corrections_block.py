"""digests: which corrections an edition's "Corrections" block lists (once per publication)

Revision ID: digests_0003
Revises: digests_0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "digests_0003"
down_revision: str | Sequence[str] | None = "digests_0002"
branch_labels: str | Sequence[str] | None = None
# No dependency on briefings_0002 (and so no foreign key to briefing_corrections): a
# second dependency between the digests and briefings branches makes Alembic's
# upgrade from empty fail in some orders (KeyError when it merges heads).
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "digest_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("correction_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest_id"],
            ["digests.id"],
            name=op.f("fk_digest_corrections_digest_id_digests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_digest_corrections_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_corrections")),
        sa.UniqueConstraint(
            "publication_id",
            "correction_id",
            name=op.f("uq_digest_corrections_publication_id_correction_id"),
        ),
    )
    with op.batch_alter_table("digest_corrections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_digest_corrections_digest_id"), ["digest_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("digest_corrections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_corrections_digest_id"))
    op.drop_table("digest_corrections")
