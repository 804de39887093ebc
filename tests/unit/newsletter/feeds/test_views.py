"""Feed views: URLs, content types, validators, 304 answers, hub links and 404s."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import feedparser
import pytest
from fastapi.testclient import TestClient

from newsletter.db import Database
from newsletter.digests.models import DigestState
from newsletter.feeds.conditional import CACHE_CONTROL, etag_of
from newsletter.settings import Settings
from newsletter.web.app import create_app
from tests.factories import make_publication
from tests.unit.newsletter.feeds.stored import DAY, edition

HUB = "https://hub.example.net/"
FEEDS = "/p/morning/feeds"


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    """The web app over a publication with one sent edition (topics: Climate)."""
    with database.session() as session:
        make_publication(session)
        edition(session, DAY, ["heat-record"], topics=["Climate"], state=DigestState.SENT)
        edition(session, DAY + timedelta(days=1), ["draft-story"], state=DigestState.RENDERED)
    app = create_app(settings.model_copy(update={"websub_hub_url": HUB}))
    with TestClient(app, base_url="https://news.example.org") as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("path", "media"),
    [
        ("briefings/rss.xml", "application/rss+xml; charset=utf-8"),
        ("briefings/atom.xml", "application/atom+xml; charset=utf-8"),
        ("editions/atom.xml", "application/atom+xml; charset=utf-8"),
        ("topics/climate/rss.xml", "application/rss+xml; charset=utf-8"),
        ("briefings/feed.json", "application/feed+json; charset=utf-8"),
    ],
)
def test_feeds_are_served_with_type_and_validators(
    client: TestClient, path: str, media: str
) -> None:
    """Each feed URL answers 200 with its media type, a strong ETag, Last-Modified,
    Cache-Control and the hub and self Link header."""
    response = client.get(f"{FEEDS}/{path}")
    assert response.status_code == 200
    assert response.headers["content-type"] == media
    assert response.headers["etag"] == etag_of(response.content)
    assert not response.headers["etag"].startswith("W/")
    assert response.headers["last-modified"].endswith(" GMT")
    assert response.headers["cache-control"] == CACHE_CONTROL
    self_url = f"https://news.example.org{FEEDS}/{path}"
    assert response.headers["link"] == f'<{HUB}>; rel="hub", <{self_url}>; rel="self"'


def test_only_the_published_edition_is_in_the_feed(client: TestClient) -> None:
    """The sent edition's briefing is in the feed; the merely rendered one is not."""
    parsed = feedparser.parse(client.get(f"{FEEDS}/briefings/atom.xml").content)
    assert not parsed.bozo
    assert [e.id.rsplit("#", 1)[1] for e in parsed.entries] == ["heat-record"]


def test_if_none_match_gives_304_without_body(client: TestClient) -> None:
    """A matching If-None-Match gets 304 with no body and the same validators."""
    first = client.get(f"{FEEDS}/briefings/rss.xml")
    again = client.get(
        f"{FEEDS}/briefings/rss.xml", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    other = client.get(f"{FEEDS}/briefings/rss.xml", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200


def test_if_modified_since_gives_304_without_body(client: TestClient) -> None:
    """If-Modified-Since at or after Last-Modified gets 304; an older date gets the feed."""
    first = client.get(f"{FEEDS}/editions/feed.json")
    modified = first.headers["last-modified"]
    again = client.get(f"{FEEDS}/editions/feed.json", headers={"If-Modified-Since": modified})
    assert again.status_code == 304
    assert again.content == b""
    older = format_datetime(datetime(2020, 1, 1, tzinfo=UTC), usegmt=True)
    stale = client.get(f"{FEEDS}/editions/feed.json", headers={"If-Modified-Since": older})
    assert stale.status_code == 200


def test_two_requests_give_identical_bytes(client: TestClient) -> None:
    """Serving a feed twice gives byte-identical bodies (so the ETag holds)."""
    assert client.get(f"{FEEDS}/topics/climate/atom.xml").content == (
        client.get(f"{FEEDS}/topics/climate/atom.xml").content
    )


@pytest.mark.parametrize(
    "path",
    [
        "/p/nope/feeds/briefings/rss.xml",
        f"{FEEDS}/topics/atlantis/rss.xml",
        f"{FEEDS}/stories/rss.xml",
        f"{FEEDS}/briefings/index.html",
    ],
)
def test_unknown_publication_topic_kind_or_file_is_404(client: TestClient, path: str) -> None:
    """Unknown publications, topics, kinds and file names answer 404."""
    assert client.get(path, headers={"Accept": "application/json"}).status_code == 404
