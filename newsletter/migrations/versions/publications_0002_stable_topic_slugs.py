"""publications: stable topic slugs, filled from the editions already published

Revision ID: publications_0002
Revises: publications_0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import newsletter.db
from newsletter.publications.topics import base_slug, name_key

revision: str = "publications_0002"
down_revision: str | Sequence[str] | None = "publications_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "digests_0002"


def upgrade() -> None:
    topics = op.create_table(
        "publication_topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("name_key", sa.String(length=120), nullable=False),
        sa.Column("slug", sa.String(length=90), nullable=False),
        sa.Column("created_at", newsletter.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name=op.f("fk_publication_topics_publication_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_topics")),
        sa.UniqueConstraint(
            "publication_id", "name_key", name=op.f("uq_publication_topics_publication_id_name_key")
        ),
        sa.UniqueConstraint(
            "publication_id", "slug", name=op.f("uq_publication_topics_publication_id_slug")
        ),
    )
    _backfill(topics)


def _backfill(topics: sa.Table) -> None:
    """Give the topics of editions already published the slugs their feeds had.

    Oldest publication first, so an earlier topic keeps the URL readers follow; a
    later one whose slug collides gets the next free number.
    """
    digests = sa.table(
        "digests",
        sa.column("id", sa.Integer()),
        sa.column("publication_id", sa.Integer()),
        sa.column("published_at", newsletter.db.UTCDateTime(timezone=True)),
    )
    items = sa.table(
        "digest_items",
        sa.column("digest_id", sa.Integer()),
        sa.column("position", sa.Integer()),
        sa.column("content", sa.JSON()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(digests.c.publication_id, items.c.content)
        .join(items, items.c.digest_id == digests.c.id)
        .where(digests.c.published_at.is_not(None))
        .order_by(digests.c.published_at, digests.c.id, items.c.position)
    )
    known: dict[int, tuple[set[str], set[str]]] = {}
    now = datetime.now(UTC)
    for publication_id, content in rows:
        keys, slugs = known.setdefault(publication_id, (set(), set()))
        for topic in (content or {}).get("topics", []):
            name = str(topic.get("name", "")).strip()[:120]
            key = name_key(name)[:120]
            if not name or key in keys:
                continue
            slug = base_slug(name)
            number = 2
            while slug in slugs:
                slug = f"{base_slug(name)}-{number}"
                number += 1
            keys.add(key)
            slugs.add(slug)
            bind.execute(
                topics.insert().values(
                    publication_id=publication_id,
                    name=name,
                    name_key=key,
                    slug=slug,
                    created_at=now,
                )
            )


def downgrade() -> None:
    op.drop_table("publication_topics")
