"""subscribers: a blank locale means "not chosen" (each publication's default language)

Until now every reader got the locale "en" whether they chose it or not, and the locale
chose nothing. Now it picks among a publication's languages, so the "en" nobody chose
becomes "" (the publication's default language), as it is for readers from now on.

Revision ID: subscribers_0005
Revises: subscribers_0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "subscribers_0005"
down_revision: str | Sequence[str] | None = "subscribers_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUBSCRIBERS = sa.table("subscribers", sa.column("locale", sa.String()))


def upgrade() -> None:
    op.execute(_SUBSCRIBERS.update().where(_SUBSCRIBERS.c.locale == "en").values(locale=""))


def downgrade() -> None:
    op.execute(_SUBSCRIBERS.update().where(_SUBSCRIBERS.c.locale == "").values(locale="en"))
