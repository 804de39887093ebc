"""Feed services: only published editions load, as snapshots, newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from newsletter.db import Database
from newsletter.digests.models import DigestState, transition
from newsletter.errors import NotFoundError
from newsletter.feeds.catalog import feed_for
from newsletter.feeds.services import load_source, published_at, published_editions
from newsletter.publications.services import get_publication
from tests.factories import make_publication
from tests.unit.newsletter.feeds.stored import DAY, edition

REACHABLE = [
    DigestState.RENDERED,
    DigestState.PUBLISHED,
    DigestState.SENDING,
    DigestState.SENT,
    DigestState.PARTIALLY_FAILED,
    DigestState.FAILED,
]


@pytest.mark.parametrize("state", REACHABLE)
def test_only_public_states_give_entries(database: Database, state: DigestState) -> None:
    """An edition is in the feeds once it was published or started sending, whatever followed."""
    with database.session() as session:
        make_publication(session)
        edition(session, DAY, ["story-a"], state=state)
    with database.session() as session:
        source = load_source(session, "morning")
        ids = [e.id for e in feed_for(source, "briefings").entries]
    expected = ["https://news.example.org/p/morning/2026-03-02/#story-a"]
    assert ids == ([] if state is DigestState.RENDERED else expected)


def test_editions_load_as_snapshots_newest_first(any_database: Database) -> None:
    """Published editions load newest first, dated when published, with their frozen items."""
    with any_database.session() as session:
        make_publication(session, topics=[])
        first = edition(session, DAY, ["story-a", "story-b"])
        second = edition(session, DAY + timedelta(days=1), ["story-c"])
        edition(session, DAY + timedelta(days=2), ["story-d"], state=DigestState.RENDERED)
        stamps = (first.published_at, second.published_at)
        assert None not in stamps
    with any_database.session() as session:
        editions = published_editions(session, get_publication(session, "morning"))
        assert [e.edition_date for e in editions] == [DAY + timedelta(days=1), DAY]
        assert (editions[1].published_at, editions[0].published_at) == stamps
        assert [i.content.slug for i in editions[1].items] == ["story-a", "story-b"]
        latest = published_editions(session, get_publication(session, "morning"), limit=1)
        assert [e.edition_date for e in latest] == [DAY + timedelta(days=1)]


def test_source_carries_publication_hub_and_scope(database: Database) -> None:
    """The source names the publication, its creation date, its topic scope and the hub."""
    with database.session() as session:
        publication = make_publication(session, topics=["Space Flight"])
        created = publication.created_at
    with database.session() as session:
        source = load_source(session, "morning", hub_url="https://hub.example/", limit=5)
        assert source.publication.slug == "morning"
        assert source.created_at == created
        assert source.hub_url == "https://hub.example/"
        assert source.limit == 5
        assert "space-flight" in source.topics()
        assert load_source(session, "morning", hub_url="").hub_url is None


def test_unknown_publication_is_not_found(database: Database) -> None:
    """Loading feeds of a publication that does not exist raises NotFoundError."""
    with database.session() as session, pytest.raises(NotFoundError, match="'nope'"):
        load_source(session, "nope")


def test_published_at_is_none_until_public(database: Database) -> None:
    """A rendered edition has no publication time; it is set once, when first made public."""
    with database.session() as session:
        make_publication(session)
        digest = edition(session, DAY, ["story-a"], state=DigestState.RENDERED)
        assert published_at(digest) is None
        transition(digest, DigestState.PUBLISHED)
        first = published_at(digest)
        assert first is not None
        transition(digest, DigestState.SENDING)
        transition(digest, DigestState.FAILED)
        assert published_at(digest) == first
