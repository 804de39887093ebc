"""Feed tables: a version counter per publication, and each feed's validators.

``feed_versions`` holds one counter per publication that database triggers raise, in
the same transaction, whenever something a feed shows may have changed: the
publication row (name, tagline, logo...), a published edition (published, its web
copy re-rendered, deleted), an edition's items, the topic registry, or a briefing
that editions carry (a correction, withdrawal, takedown or expiry changes the
``briefings`` row and adds a ``briefing_corrections`` row). Triggers rather than
application code, so every process and every path (the CLI, workers, the web app,
plain SQL) moves it, and a counter rather than a timestamp, so two changes that
commit out of order still both move it (a "newest ``updated_at``" can miss the one
with the older clock reading). A web worker reads it with one primary-key lookup per
request and serves its built bytes only while the counter it built them at holds.

``feed_documents`` keeps per feed and format the ETag last served and when it
changed: the ``Last-Modified`` every worker agrees on, which moves exactly when the
bytes do (channel metadata included).

``digest_items.briefing_id`` gets an index here: the briefing triggers look up which
publications carry a briefing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db import Base, UTCDateTime
from newsletter.digests.models import DigestItem


class FeedVersion(Base):
    """A publication's feed data version: raised by triggers on every relevant change."""

    __tablename__ = "feed_versions"

    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class FeedDocument(Base):
    """The validators last served for one feed in one format."""

    __tablename__ = "feed_documents"

    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(200), primary_key=True)
    fmt: Mapped[str] = mapped_column(String(8), primary_key=True)
    etag: Mapped[str] = mapped_column(String(80))
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime())


DIGEST_ITEMS_BY_BRIEFING = Index("ix_digest_items_briefing_id", DigestItem.__table__.c.briefing_id)

# (trigger name, table, timing + events, condition or "", publication id expression).
# The expression names the publications to bump: one id, or a subquery of ids.
_CARRIERS = "SELECT publication_id FROM digest_items WHERE briefing_id = {row}.{column}"
_DIGEST_CHANGED = (
    "NEW.published_at IS NOT NULL AND ("
    "OLD.published_at IS DISTINCT FROM NEW.published_at"
    " OR OLD.web_html IS DISTINCT FROM NEW.web_html"
    " OR OLD.edition_date IS DISTINCT FROM NEW.edition_date"
    " OR CAST(OLD.notes AS TEXT) IS DISTINCT FROM CAST(NEW.notes AS TEXT)"
    " OR OLD.publication_id IS DISTINCT FROM NEW.publication_id)"
)
TRIGGERS: tuple[tuple[str, str, str, str, str], ...] = (
    ("feeds_publication_added", "publications", "AFTER INSERT", "", "NEW.id"),
    ("feeds_publication_changed", "publications", "AFTER UPDATE", "", "NEW.id"),
    (
        "feeds_digest_added",
        "digests",
        "AFTER INSERT",
        "NEW.published_at IS NOT NULL",
        "NEW.publication_id",
    ),
    ("feeds_digest_changed", "digests", "AFTER UPDATE", _DIGEST_CHANGED, "NEW.publication_id"),
    (
        "feeds_digest_removed",
        "digests",
        "AFTER DELETE",
        "OLD.published_at IS NOT NULL",
        "OLD.publication_id",
    ),
    ("feeds_item_changed", "digest_items", "AFTER UPDATE", "", "NEW.publication_id"),
    ("feeds_item_removed", "digest_items", "AFTER DELETE", "", "OLD.publication_id"),
    ("feeds_topic_added", "publication_topics", "AFTER INSERT", "", "NEW.publication_id"),
    ("feeds_topic_changed", "publication_topics", "AFTER UPDATE", "", "NEW.publication_id"),
    ("feeds_topic_removed", "publication_topics", "AFTER DELETE", "", "OLD.publication_id"),
    (
        "feeds_briefing_changed",
        "briefings",
        "AFTER UPDATE",
        "",
        _CARRIERS.format(row="NEW", column="id"),
    ),
    (
        "feeds_correction_added",
        "briefing_corrections",
        "AFTER INSERT",
        "",
        _CARRIERS.format(row="NEW", column="briefing_id"),
    ),
)


def _targets(expression: str) -> str:
    """A SELECT of the publication ids an expression names."""
    return expression if expression.startswith("SELECT") else f"SELECT {expression}"


def _sqlite(name: str, table: str, timing: str, condition: str, target: str) -> str:
    when = f" WHEN {condition.replace('IS DISTINCT FROM', 'IS NOT')}" if condition else ""
    ids = _targets(target)
    # Built from the constants above only: nothing here comes from outside.
    return (
        f"CREATE TRIGGER {name} {timing} ON {table} FOR EACH ROW{when} BEGIN "  # noqa: S608
        f"INSERT OR IGNORE INTO feed_versions (publication_id, version) "
        f"SELECT id, 0 FROM publications WHERE id IN ({ids}); "
        f"UPDATE feed_versions SET version = version + 1 WHERE publication_id IN ({ids}); "
        f"END"
    )


def _postgres(name: str, table: str, timing: str, condition: str, target: str) -> list[str]:
    when = f" WHEN ({condition})" if condition else ""
    ids = _targets(target)
    # Built from the constants above only: nothing here comes from outside.
    return [
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "  # noqa: S608
        f"INSERT INTO feed_versions (publication_id, version) "
        f"SELECT DISTINCT p.id, 1 FROM publications p WHERE p.id IN ({ids}) "
        f"ORDER BY p.id "
        f"ON CONFLICT (publication_id) DO UPDATE SET version = feed_versions.version + 1; "
        f"RETURN NULL; END $$",
        f"CREATE TRIGGER {name} {timing} ON {table} FOR EACH ROW{when} EXECUTE FUNCTION {name}()",
    ]


def create_triggers(dialect: str) -> list[str]:
    """The statements creating every feed-version trigger on ``dialect``."""
    statements: list[str] = []
    for spec in TRIGGERS:
        if dialect == "postgresql":
            statements.extend(_postgres(*spec))
        else:
            statements.append(_sqlite(*spec))
    return statements


def drop_triggers(dialect: str) -> list[str]:
    """The statements removing them again."""
    statements: list[str] = []
    for name, table, *_ in TRIGGERS:
        if dialect == "postgresql":
            statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            statements.append(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            statements.append(f"DROP TRIGGER IF EXISTS {name}")
    return statements
