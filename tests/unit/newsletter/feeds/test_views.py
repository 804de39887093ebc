"""Feed views: URLs, content types, validators, 304 answers, HEAD, the cache, hub links, 404s."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import feedparser
import pytest
from fastapi.responses import Response
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.db import Database
from newsletter.digests.models import DigestState
from newsletter.feeds import serving
from newsletter.feeds.cache import FeedCache
from newsletter.feeds.conditional import CACHE_CONTROL, etag_of
from newsletter.feeds.views import serve_feed
from newsletter.publications.services import get_publication
from newsletter.settings import Settings
from tests.factories import make_publication
from tests.unit.newsletter.feeds.stored import DAY, edition

HUB = "https://hub.example.net/"
FEEDS = "/p/morning/feeds"
IDENTITY = {"Accept-Encoding": "identity"}


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
    Cache-Control, CORS, Vary and the hub and self Link header."""
    response = client.get(f"{FEEDS}/{path}", headers=IDENTITY)
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["vary"] == "Accept-Encoding"
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


@pytest.mark.parametrize(
    "path", ["briefings/rss.xml", "editions/atom.xml", "topics/climate/feed.json"]
)
def test_head_gives_the_get_headers_without_a_body(client: TestClient, path: str) -> None:
    """HEAD on a feed answers 200 with the headers a GET gets (type, length, validators,
    links) and no body."""
    got = client.get(f"{FEEDS}/{path}", headers=IDENTITY)
    head = client.head(f"{FEEDS}/{path}", headers=IDENTITY)
    assert head.status_code == 200
    assert head.content == b""
    for name in (
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "cache-control",
        "link",
    ):
        assert head.headers[name] == got.headers[name], name
    assert int(head.headers["content-length"]) == len(got.content)
    conditional = client.head(
        f"{FEEDS}/{path}", headers={**IDENTITY, "If-None-Match": got.headers["etag"]}
    )
    assert conditional.status_code == 304


def _serve(database: Database, cache: FeedCache | None, **headers: str) -> Response:
    return serve_feed(
        database,
        headers,
        publication="morning",
        kind="briefings",
        filename="atom.xml",
        hub_url=HUB,
        cache=cache,
    )


def test_cached_feed_is_served_without_rebuilding(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the data unchanged, a 304 and a repeated 200 come from the cache (nothing is
    loaded or built) and carry exactly the bytes and validators of a fresh build."""
    with database.session() as session:
        make_publication(session)
        edition(session, DAY, ["heat-record"], topics=["Climate"], state=DigestState.SENT)
    cache = FeedCache()
    first = _serve(database, cache)
    fresh = _serve(database, None)
    assert first.body == fresh.body
    assert first.headers == fresh.headers
    assert len(cache) == 3  # the three formats are built together

    def no_rebuild(*args: object, **kwargs: object) -> object:
        raise AssertionError("the feed was rebuilt")

    monkeypatch.setattr(serving, "load_feed", no_rebuild)
    again = _serve(database, cache)
    assert again.body == first.body
    assert again.headers == first.headers
    not_modified = _serve(database, cache, **{"if-none-match": first.headers["etag"]})
    assert not_modified.status_code == 304
    assert not_modified.body == b""


@pytest.mark.parametrize("change", ["publish", "publication", "hub"])
def test_any_change_to_the_data_gives_the_rebuilt_feed(database: Database, change: str) -> None:
    """A newly published edition or an edited publication changes the version, so the
    next answer is byte for byte a fresh build, and the old ETag no longer matches."""
    with database.session() as session:
        make_publication(session)
        edition(session, DAY, ["heat-record"], topics=["Climate"], state=DigestState.SENT)
    cache = FeedCache()
    before = _serve(database, cache)
    hub = HUB
    with database.session() as session:
        if change == "publish":
            edition(session, DAY + timedelta(days=1), ["new-story"], state=DigestState.PUBLISHED)
        elif change == "publication":
            get_publication(session, "morning").name = "The Evening Test"
        else:
            hub = "https://other-hub.example.net/"
    after = serve_feed(
        database,
        {"if-none-match": before.headers["etag"]},
        publication="morning",
        kind="briefings",
        filename="atom.xml",
        hub_url=hub,
        cache=cache,
    )
    assert after.status_code == 200
    fresh = serve_feed(
        database, {}, publication="morning", kind="briefings", filename="atom.xml", hub_url=hub
    )
    assert after.body == fresh.body != before.body
    assert after.headers["etag"] == fresh.headers["etag"] != before.headers["etag"]


def test_the_app_builds_each_feed_once_while_nothing_changes(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web app keeps built feeds: repeated GETs and a 304 load and build only once."""
    calls: list[str] = []
    real = serving.load_feed

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append("build")
        return real(*args, **kwargs)

    monkeypatch.setattr(serving, "load_feed", counting)
    first = client.get(f"{FEEDS}/editions/rss.xml")
    assert client.get(f"{FEEDS}/editions/rss.xml").content == first.content
    etag = first.headers["etag"]
    assert (
        client.get(f"{FEEDS}/editions/rss.xml", headers={"If-None-Match": etag}).status_code == 304
    )
    assert calls == ["build"]


def test_gzip_is_sent_when_asked_with_its_own_etag(client: TestClient) -> None:
    """A client accepting gzip gets the same feed compressed, marked, with its own strong
    ETag; a 304 needs that ETag; Vary tells caches the answer depends on the header."""
    url = f"{FEEDS}/briefings/rss.xml"
    plain = client.get(url, headers=IDENTITY)
    raw = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["vary"] == "Accept-Encoding"
    assert raw.content == plain.content  # the client decompressed it
    assert raw.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"'
    assert int(raw.headers["content-length"]) < len(plain.content)
    again = client.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": raw.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["access-control-allow-origin"] == "*"
    mixed = client.get(url, headers={**IDENTITY, "If-None-Match": raw.headers["etag"]})
    assert mixed.status_code == 200


def test_cors_preflight_allows_any_origin(client: TestClient) -> None:
    """OPTIONS on a feed answers a CORS preflight: GET and HEAD from any origin, with the
    conditional request headers."""
    response = client.options(
        f"{FEEDS}/topics/climate/feed.json",
        headers={"Origin": "https://reader.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "GET" in response.headers["access-control-allow-methods"]
    assert "If-None-Match" in response.headers["access-control-allow-headers"]


def test_fast_path_answers_carry_the_apps_security_headers(client: TestClient) -> None:
    """Feeds answered before routing still carry the headers every page gets."""
    from newsletter.web.middleware import SECURITY_HEADERS

    response = client.get(f"{FEEDS}/briefings/atom.xml")
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


def test_topics_that_slug_alike_are_separate_feeds(settings: Settings, database: Database) -> None:
    """C++, C# and C each get a feed of their own, at the registry's slugs."""
    with database.session() as session:
        make_publication(session, topics=[])
        edition(session, DAY, ["cpp-news"], topics=["C++"], state=DigestState.SENT)
        edition(
            session, DAY + timedelta(days=1), ["cs-news"], topics=["C#"], state=DigestState.SENT
        )
        edition(session, DAY + timedelta(days=2), ["c-news"], topics=["C"], state=DigestState.SENT)
    app = create_app(settings)
    with TestClient(app, base_url="https://news.example.org") as test_client:
        found = {}
        for slug in ("c-plus-plus", "c-sharp", "c"):
            response = test_client.get(f"{FEEDS}/topics/{slug}/atom.xml")
            assert response.status_code == 200, slug
            parsed = feedparser.parse(response.content)
            found[slug] = [e.id.rsplit("#", 1)[1] for e in parsed.entries]
    assert found == {"c-plus-plus": ["cpp-news"], "c-sharp": ["cs-news"], "c": ["c-news"]}
