"""digests: each variant's language

An edition is rendered once per (topic selection, language) its readers get. A row
from before has "": the publication's default language, which it was rendered in.

Revision ID: digests_0006
Revises: digests_0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "digests_0006"
down_revision: str | Sequence[str] | None = "digests_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("digest_variants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=16), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("digest_variants", schema=None) as batch_op:
        batch_op.drop_column("language")
