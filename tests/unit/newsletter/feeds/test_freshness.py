"""Feed freshness: the version triggers raise, Last-Modified per ETag, workers agreeing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import select, text

from newsletter.briefings.models import Briefing, BriefingCorrection, CorrectionKind
from newsletter.db import Database
from newsletter.digests.models import DigestState, transition
from newsletter.errors import NotFoundError
from newsletter.feeds.freshness import current_version, next_last_modified, stamp
from newsletter.feeds.models_db import FeedDocument
from newsletter.feeds.serving import FeedServer
from newsletter.feeds.views import serve_feed
from newsletter.publications.services import get_publication
from tests.factories import make_publication
from tests.unit.newsletter.feeds.stored import DAY, edition

NOW = datetime(2026, 3, 4, 7, 0, 0, 500_000, tzinfo=UTC)


def _version(database: Database) -> int:
    with database.engine.connect() as connection:
        return current_version(connection, "morning")[1]


def test_every_public_change_raises_the_version_and_nothing_else_does(
    any_database: Database,
) -> None:
    """Publishing, editing the publication, changing a carried briefing and recording a
    correction each raise the counter in their own transaction; a send finishing
    (state only) and approving a briefing no edition carries do not."""
    with any_database.session() as session:
        make_publication(session)
    created = _version(any_database)
    assert created >= 1
    with any_database.session() as session:
        digest = edition(session, DAY, ["heat-record"], state=DigestState.SENDING)
        digest_id = digest.id
    published = _version(any_database)
    assert published > created
    with any_database.session() as session:
        from newsletter.digests.models import Digest

        transition(session.get_one(Digest, digest_id), DigestState.SENT)
    assert _version(any_database) == published
    with any_database.session() as session:
        from tests.factories import make_briefing

        make_briefing(session, slug="not-in-any-edition")
        session.flush()
        loose = session.scalar(select(Briefing).where(Briefing.slug == "not-in-any-edition"))
        assert loose is not None
        loose.approved_by = "Another Editor"
    assert _version(any_database) == published
    with any_database.session() as session:
        get_publication(session, "morning").tagline = "Now with a tagline"
    renamed = _version(any_database)
    assert renamed > published
    with any_database.session() as session:
        carried = session.scalar(select(Briefing).where(Briefing.slug == "heat-record"))
        assert carried is not None
        carried.approved_revision = None  # withdrawn
    changed = _version(any_database)
    assert changed > renamed
    with any_database.session() as session:
        carried = session.scalar(select(Briefing).where(Briefing.slug == "heat-record"))
        assert carried is not None
        session.add(
            BriefingCorrection(
                briefing_id=carried.id,
                kind=CorrectionKind.CORRECTION,
                revision=1,
                note="A figure was wrong.",
                editor="Test Editor",
                at=NOW,
            )
        )
    assert _version(any_database) > changed


def test_last_modified_is_whole_seconds_and_always_moves_on() -> None:
    """A new Last-Modified is the clock's second, or one second past the previous date when
    the clock has not moved past it (two documents never share a date)."""
    assert next_last_modified(None, NOW) == NOW.replace(microsecond=0)
    earlier = NOW - timedelta(minutes=5)
    assert next_last_modified(earlier, NOW) == NOW.replace(microsecond=0)
    same_second = NOW.replace(microsecond=0)
    assert next_last_modified(same_second, NOW) == same_second + timedelta(seconds=1)


def test_stamp_keeps_the_date_while_the_etag_holds(database: Database) -> None:
    """The same ETag keeps its date; a new one gets a later date; a worker recording the
    same new ETag later reads the first worker's date back."""
    with database.session() as session:
        publication_id = make_publication(session).id
    with database.session() as session:
        first = stamp(session, publication_id, "briefings", "rss", '"a"', NOW)
    with database.session() as session:
        again = stamp(session, publication_id, "briefings", "rss", '"a"', NOW + timedelta(hours=1))
    assert again == first == NOW.replace(microsecond=0)
    with database.session() as session:
        moved = stamp(session, publication_id, "briefings", "rss", '"b"', NOW)
    assert moved == first + timedelta(seconds=1)
    with database.session() as session:
        other_worker = stamp(
            session, publication_id, "briefings", "rss", '"b"', NOW + timedelta(minutes=3)
        )
        rows = session.scalars(select(FeedDocument)).all()
    assert other_worker == moved
    assert [(r.kind, r.fmt, r.etag) for r in rows] == [("briefings", "rss", '"b"')]


def test_renaming_the_publication_moves_last_modified(database: Database) -> None:
    """Channel metadata changes the bytes without changing any entry: Last-Modified still
    moves past the old one, so If-Modified-Since gets the new feed, not a stale 304."""
    with database.session() as session:
        make_publication(session)
        edition(session, DAY, ["heat-record"], state=DigestState.SENT)
    server = FeedServer(database)
    try:
        before = serve_feed(
            database, {}, publication="morning", kind="briefings", filename="rss.xml", server=server
        )
        with database.session() as session:
            get_publication(session, "morning").name = "The Renamed Brief"
        since = {"if-modified-since": before.headers["last-modified"]}
        after = serve_feed(
            database,
            since,
            publication="morning",
            kind="briefings",
            filename="rss.xml",
            server=server,
        )
    finally:
        server.close()
    assert after.status_code == 200
    assert b"The Renamed Brief" in after.body
    assert after.headers["etag"] != before.headers["etag"]
    was = parsedate_to_datetime(before.headers["last-modified"])
    with database.session() as session:
        row = session.scalar(select(FeedDocument).where(FeedDocument.fmt == "rss"))
        assert row is not None
        assert row.last_modified > was
    # Within the same second the new date runs ahead of the clock: then none is sent.
    if "last-modified" in after.headers:
        assert parsedate_to_datetime(after.headers["last-modified"]) > was


def test_two_workers_never_serve_what_a_commit_replaced(database: Database) -> None:
    """Two servers (as two web worker processes) each keep the feed; after a change
    commits, both answer the new bytes on their next request, with the same validators."""
    with database.session() as session:
        make_publication(session)
        edition(session, DAY, ["heat-record"], state=DigestState.SENT)
    one, two = FeedServer(database), FeedServer(database)
    try:
        old = one.get("morning", "briefings", "atom")
        assert two.get("morning", "briefings", "atom").etag == old.etag
        with database.session() as session:
            edition(session, DAY + timedelta(days=1), ["new-story"], state=DigestState.PUBLISHED)
        new_one = one.held_version("morning")
        assert new_one[1] > old.version
        first, second = (
            one.get("morning", "briefings", "atom"),
            two.get("morning", "briefings", "atom"),
        )
    finally:
        one.close()
        two.close()
    assert b"new-story" in first.body
    assert first.body == second.body
    assert (first.etag, first.last_modified) == (second.etag, second.last_modified)
    assert (one.builds, two.builds) == (2, 2)


def test_the_kept_version_reader_survives_a_lost_connection(any_database: Database) -> None:
    """The event loop's kept reader answers versions and unknown slugs, sees commits at
    once, and after its connection dies (a server restart) answers from a new one."""
    with any_database.session() as session:
        make_publication(session)
    server = FeedServer(any_database)
    try:
        publication_id, version = server.held_version("morning")
        with pytest.raises(NotFoundError, match="unknown publication 'nope'"):
            server.held_version("nope")
        with any_database.session() as session:
            get_publication(session, "morning").tagline = "Changed"
        assert server.held_version("morning") == (publication_id, version + 1)
        if any_database.engine.dialect.name == "postgresql":
            with any_database.engine.connect() as connection:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
        assert server.held_version("morning") == (publication_id, version + 1)
    finally:
        server.close()


def test_requests_that_miss_together_share_one_build(database: Database) -> None:
    """Eight threads asking for the same stale feed at once cause one build, not eight."""
    import threading

    with database.session() as session:
        make_publication(session)
        edition(session, DAY, ["heat-record"], state=DigestState.SENT)
    server = FeedServer(database)
    start = threading.Barrier(8)
    bodies: list[bytes] = []

    def ask() -> None:
        start.wait()
        bodies.append(server.get("morning", "briefings", "json").body)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.close()
    assert server.builds == 1
    assert len(set(bodies)) == 1
    assert len(bodies) == 8
