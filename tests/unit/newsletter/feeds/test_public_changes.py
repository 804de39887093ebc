"""A correction, a withdrawal and a takedown reach every feed a web worker keeps, at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import feedparser
import pytest

from newsletter.briefings import services as briefings
from newsletter.db import Database
from newsletter.digests import services as digests
from newsletter.feeds.serving import FeedServer
from newsletter.publications.services import get_publication
from newsletter.publishing import corrections
from tests.factories import briefing_content, make_briefing, make_publication

DAY = date(2026, 3, 2)
CUTOFF = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
SECRET = "A libellous claim about a named person."
KINDS = ("briefings", "editions", "topics/climate", "topics/c-plus-plus")
FORMATS = ("rss", "atom", "json")


@pytest.fixture
def server(database: Database) -> Iterator[FeedServer]:
    """A feed server holding every feed of a publication whose edition carries ``story``."""
    with database.session() as session:
        make_publication(session)
        make_briefing(session, slug="story", topics=("Climate", "C++"), lede=SECRET)
        make_briefing(session, slug="other", topics=("Sport",))
        publication = get_publication(session, "morning")
        digest = digests.assemble_digest(session, publication, DAY, now=CUTOFF, cutoff=CUTOFF)
        digests.publish_digest(session, digest.digest.id)
    feeds = FeedServer(database)
    for kind in KINDS:
        for fmt in FORMATS:
            feeds.get("morning", kind, fmt)
    yield feeds
    feeds.close()


def _story(server: FeedServer, kind: str = "briefings") -> list[dict[str, str]]:
    items = json.loads(server.get("morning", kind, "json").body)["items"]
    return [item for item in items if item["id"].endswith("#story")]


def test_a_correction_updates_the_entry_everywhere(database: Database, server: FeedServer) -> None:
    """After a correction commits, the kept feeds are rebuilt: same entry id, later
    date_modified / updated, the corrected text and the note, in every format."""
    before = _story(server)[0]
    with database.session() as session:
        content = briefing_content(slug="story", topics=("Climate", "C++"), lede="Fixed text.")
        briefings.import_content(session, content, editor="Ed")
        story = briefings.get_briefing(session, "story")
        corrections.approve_briefing(
            session, story, "Ed", correction_note="The first text named the wrong person."
        )
    after = _story(server)[0]
    assert after["id"] == before["id"]
    assert after["date_modified"] > before["date_modified"]
    assert "Fixed text." in after["content_html"]
    assert "named the wrong person" in after["content_html"]
    for fmt in ("rss", "atom"):
        parsed = feedparser.parse(server.get("morning", "briefings", fmt).body)
        entry = next(e for e in parsed.entries if e.id.endswith("#story"))
        assert "Fixed text." in entry.content[0].value


def test_a_withdrawal_leaves_the_briefing_and_topic_feeds(
    database: Database, server: FeedServer
) -> None:
    """A withdrawn briefing leaves the briefings feed and its topic feeds at once; the
    edition entry keeps only its notice."""
    with database.session() as session:
        corrections.withdraw_briefing(session, briefings.get_briefing(session, "story"), "Ed")
    assert _story(server) == []
    assert _story(server, "topics/climate") == []
    edition = json.loads(server.get("morning", "editions", "json").body)["items"][0]
    assert SECRET not in edition["content_html"]
    assert "withdrawn" in edition["content_html"]


def test_a_takedown_leaves_no_text_in_any_feed(database: Database, server: FeedServer) -> None:
    """After a takedown no kept feed, in any format, holds the text."""
    with database.session() as session:
        corrections.takedown_briefing(
            session, briefings.get_briefing(session, "story"), "Ed", reason="Court order"
        )
    for kind in KINDS:
        for fmt in FORMATS:
            built = server.get("morning", kind, fmt)
            assert SECRET.encode() not in built.body, (kind, fmt)
            assert b"libellous" not in built.body, (kind, fmt)
