"""Loading one feed: the same bytes as from the whole archive, from only what it shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from newsletter.db import Database
from newsletter.digests.models import DigestState
from newsletter.errors import NotFoundError
from newsletter.feeds.catalog import feed_for
from newsletter.feeds.loading import build_topic_index, load_feed
from newsletter.feeds.services import load_source
from newsletter.publications.services import get_publication
from newsletter.publications.topics import topic_slugs
from tests.factories import make_publication
from tests.unit.newsletter.feeds.stored import DAY, edition

LIMIT = 3


@pytest.fixture
def archive(database: Database) -> Database:
    """Eight published editions of two briefings; topics alternate, one rendered draft."""
    with database.session() as session:
        make_publication(session, topics=[])
        for n in range(8):
            topic = "Climate" if n % 2 else "Energy"
            edition(
                session,
                DAY + timedelta(days=n),
                [f"story-{n}-a", f"story-{n}-b"],
                topics=[topic, "C++"] if n == 3 else [topic],
                state=DigestState.SENT,
            )
        edition(session, DAY + timedelta(days=9), ["draft"], state=DigestState.RENDERED)
    return database


@pytest.mark.parametrize(
    "kind",
    [
        "briefings",
        "editions",
        "topics/climate",
        "topics/energy",
        "topics/c-plus-plus",
    ],
)
def test_a_feed_loaded_alone_is_the_feed_built_from_the_whole_archive(
    archive: Database, kind: str
) -> None:
    """Every feed, loaded a page at a time, has exactly the bytes of the same feed built from
    every published edition, in every format."""
    with archive.session() as session:
        publication = get_publication(session, "morning")
        alone = load_feed(session, publication, kind, hub_url="https://hub/", limit=LIMIT)
        whole = feed_for(load_source(session, "morning", hub_url="https://hub/", limit=LIMIT), kind)
    for fmt in ("rss", "atom", "json"):
        assert alone.render(fmt) == whole.render(fmt), fmt
    assert len(alone.entries) == (2 if kind == "topics/c-plus-plus" else LIMIT)


def test_a_topic_feed_reads_only_the_editions_it_shows(archive: Database) -> None:
    """A topic feed loads its editions by id from the index (a few rows), not the archive."""
    with archive.session() as session:
        publication = get_publication(session, "morning")
        index = build_topic_index(session, publication, topic_slugs(session, publication))
        assert len(index.of("climate")) == 4
        assert index.of("c-plus-plus") == index.of("climate")[2:3]
        loaded: list[int] = []

        def count(conn: object, cursor: object, statement: str, *args: object) -> None:
            if "FROM digests" in statement and "digest_items" not in statement:
                loaded.append(1)

        event.listen(archive.engine, "before_cursor_execute", count)
        try:
            feed = load_feed(session, publication, "topics/climate", limit=2, index=lambda _: index)
        finally:
            event.remove(archive.engine, "before_cursor_execute", count)
    assert [e.id.rsplit("#", 1)[1] for e in feed.entries] == ["story-7-a", "story-7-b"]
    assert len(loaded) == 1


def test_unknown_kinds_and_topics_are_not_found(archive: Database) -> None:
    """A kind or topic the publication does not have is NotFoundError."""
    with archive.session() as session:
        publication = get_publication(session, "morning")
        with pytest.raises(NotFoundError, match="no topic 'atlantis'"):
            load_feed(session, publication, "topics/atlantis")
        with pytest.raises(NotFoundError, match="unknown feed"):
            load_feed(session, publication, "stories")


def test_topic_names_are_read_again_only_for_new_or_changed_editions(archive: Database) -> None:
    """Given what it knew, the reader reads items of the new edition and of an edition
    whose web copy changed, not the archive's; the index it gives is the same as fresh."""
    from newsletter.digests.models import Digest
    from newsletter.feeds.loading import read_topic_names, topic_index

    with archive.session() as session:
        known = read_topic_names(session, get_publication(session, "morning"))
    assert len(known) == 8
    with archive.session() as session:
        edition(
            session,
            DAY + timedelta(days=20),
            ["late-a"],
            topics=["Climate"],
            state=DigestState.SENT,
        )
        oldest = min(known, key=lambda d: known[d].edition_date)
        session.get_one(Digest, oldest).web_html = "<p>re-rendered</p>"
    reads: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "FROM digest_items" in statement:
            reads.append(statement)

    event.listen(archive.engine, "before_cursor_execute", count)
    try:
        with archive.session() as session:
            publication = get_publication(session, "morning")
            again = read_topic_names(session, publication, known)
            registry = topic_slugs(session, publication)
            fresh = build_topic_index(session, publication, registry)
    finally:
        event.remove(archive.engine, "before_cursor_execute", count)
    assert len(again) == 9
    assert sum(again[d] is known.get(d) for d in again) == 7  # kept as they were
    assert topic_index(again, registry) == fresh
    assert fresh.of("climate")[0] == max(again, key=lambda d: again[d].edition_date)
    # The incremental read, then the fresh one: each the items' topics and the topics
    # corrections gave them, one query of each per 500 editions.
    assert len(reads) == 4
