"""publications: the languages a publication offers its readers

Revision ID: publications_0005
Revises: publications_0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "publications_0005"
down_revision: str | Sequence[str] | None = "publications_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("languages", sa.JSON(), nullable=False, server_default="[]"))
    # Every publication so far offers its one language.
    table = sa.table(
        "publications",
        sa.column("id", sa.Integer()),
        sa.column("language", sa.String()),
        sa.column("languages", sa.JSON()),
    )
    connection = op.get_bind()
    for row_id, language in connection.execute(sa.select(table.c.id, table.c.language)).all():
        connection.execute(
            table.update().where(table.c.id == row_id).values(languages=[language])
        )


def downgrade() -> None:
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.drop_column("languages")
