"""The feed catalogue: which feeds a publication has, lookup by kind, formats, golden files."""

from __future__ import annotations

from dataclasses import replace

import pytest

from newsletter.errors import NotFoundError
from newsletter.feeds.catalog import Source, all_feeds, feed_for
from tests.golden import assert_golden
from tests.unit.newsletter.feeds.conftest import CREATED_AT


def test_every_feed_of_a_publication(source: Source) -> None:
    """A publication has a briefings feed, an editions feed and one feed per topic."""
    kinds = [feed.spec.kind for feed in all_feeds(source)]
    assert kinds[:2] == ["briefings", "editions"]
    assert kinds[2:] == sorted(kinds[2:])
    assert "topics/edinburgh" in kinds
    assert "topics/semiconductors" in kinds
    assert len(kinds) == 2 + 6


def test_titles_name_the_publication_and_topic(source: Source) -> None:
    """Feed titles say which publication (and which topic) they follow."""
    assert feed_for(source, "briefings").spec.title == "The Morning Brief"
    assert feed_for(source, "editions").spec.title == "The Morning Brief: editions"
    topic = feed_for(source, "topics/public-transport")
    assert topic.spec.title == "The Morning Brief: Public transport"
    assert [e.title for e in topic.entries] == ["City council backs the harbour tram extension"]


def test_unknown_kinds_topics_and_formats_are_not_found(source: Source) -> None:
    """An unknown feed kind, topic or format raises NotFoundError naming it."""
    with pytest.raises(NotFoundError, match="unknown feed 'stories'"):
        feed_for(source, "stories")
    with pytest.raises(NotFoundError, match="no topic 'atlantis'"):
        feed_for(source, "topics/atlantis")
    with pytest.raises(NotFoundError, match="unknown feed format 'xml'"):
        feed_for(source, "briefings").render("xml")


def test_scoped_topics_have_feeds_before_their_first_briefing(source: Source) -> None:
    """A topic the publication is scoped to has a (for now empty) feed."""
    scoped = replace(source, scoped_topics=("Space Flight",))
    feed = feed_for(scoped, "topics/space-flight")
    assert feed.entries == ()
    assert feed.updated == CREATED_AT


def test_limit_applies_to_every_feed(source: Source) -> None:
    """The source's limit caps each feed."""
    capped = replace(source, limit=2)
    assert len(feed_for(capped, "briefings").entries) == 2


@pytest.mark.parametrize(
    ("fmt", "name"), [("rss", "rss.xml"), ("atom", "atom.xml"), ("json", "feed.json")]
)
def test_sample_briefings_feed_matches_its_golden_file(source: Source, fmt: str, name: str) -> None:
    """The sample publication's briefings feed is byte-for-byte its reviewed golden file."""
    data = feed_for(source, "briefings").render(fmt)
    assert_golden(f"feeds/briefings.{name}", data.decode("utf-8"))
