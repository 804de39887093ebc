"""JSON Feed 1.1 output: required fields, dates, hubs, escaping and stable bytes.

feedparser 6.0 does not read JSON Feed, so these tests check the 1.1 specification's
fields directly on the decoded document.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from newsletter.content.edition import Edition
from newsletter.feeds.catalog import Source, feed_for
from newsletter.feeds.jsonfeed import VERSION
from tests.unit.newsletter.feeds.conftest import (
    CREATED_AT,
    HUB,
    PUBLISHED_AT,
    bold_content,
    edition_on,
    unicode_content,
)


def _load(data: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(data.decode("utf-8"))
    return document


def test_required_and_recommended_fields_are_present(source: Source) -> None:
    """The feed has version 1.1, title, home page, its own URL, authors, language and items;
    each item has a string id, url, title, content_html and RFC 3339 dates."""
    feed = feed_for(source, "briefings")
    doc = _load(feed.render("json"))
    assert doc["version"] == VERSION == "https://jsonfeed.org/version/1.1"
    assert doc["title"] == "The Morning Brief"
    assert doc["home_page_url"] == "https://news.example.org/p/morning-brief/"
    assert doc["feed_url"] == feed.spec.url("json")
    assert doc["authors"] == [{"name": "The Morning Brief", "url": doc["home_page_url"]}]
    assert doc["language"] == "en"
    assert len(doc["items"]) == 3
    for item, want in zip(doc["items"], feed.entries, strict=True):
        assert isinstance(item["id"], str)
        assert item["id"] == want.id
        assert item["url"] == want.url
        assert item["title"] == want.title
        assert item["content_html"] == want.content_html
        assert item["summary"] == want.summary
        assert item["tags"] == list(want.categories)
        published = datetime.fromisoformat(item["date_published"])
        assert published == PUBLISHED_AT
        assert item["date_published"].endswith("Z")
        assert datetime.fromisoformat(item["date_modified"]) == want.updated
    assert doc["items"][0]["external_url"] == "https://news.example.org/stories/tram-vote"
    assert "external_url" not in doc["items"][1]


def test_hubs_only_when_configured(source: Source) -> None:
    """A configured WebSub hub is listed under ``hubs``; otherwise there is no such key."""
    doc = _load(feed_for(source, "briefings").render("json"))
    assert doc["hubs"] == [{"type": "WebSub", "url": HUB}]
    plain = _load(feed_for(replace(source, hub_url=None), "briefings").render("json"))
    assert "hubs" not in plain


def test_icon_comes_from_the_logo(source: Source) -> None:
    """A publication logo becomes the feed's icon and favicon."""
    publication = replace(source.publication, logo_url="https://news.example.org/logo.png")
    doc = _load(feed_for(replace(source, publication=publication), "editions").render("json"))
    assert doc["icon"] == doc["favicon"] == "https://news.example.org/logo.png"


def test_output_is_byte_identical_across_builds(source: Source) -> None:
    """The same data gives the same bytes."""
    assert feed_for(source, "editions").render("json") == feed_for(source, "editions").render(
        "json"
    )


def test_text_survives_json_intact_and_html_stays_escaped(sample: Edition) -> None:
    """Markup characters and é, ß, 東京 come back exactly; content_html keeps them escaped."""
    tokyo = edition_on(date(2026, 3, 5), unicode_content())
    feed = feed_for(Source(sample.publication, (sample, tokyo), CREATED_AT), "briefings")
    data = feed.render("json")
    item = _load(data)["items"][0]
    content = unicode_content()
    assert item["title"] == content.title
    assert item["tags"] == ["東京", "Café & Straße"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in item["content_html"]
    assert "<script" not in item["content_html"]
    assert "東京".encode() in data


def test_empty_feed_has_an_empty_item_list(source: Source) -> None:
    """A feed with nothing published yet is still a valid JSON Feed with ``items: []``."""
    doc = _load(feed_for(replace(source, editions=()), "briefings").render("json"))
    assert doc["items"] == []
    assert doc["version"] == VERSION
    assert datetime.fromisoformat(CREATED_AT.isoformat()).tzinfo is UTC


def test_summary_is_plain_text_and_content_html_escapes_it(sample: Edition) -> None:
    """JSON Feed ``summary`` is plain text (the briefing's characters as written) while
    ``content_html`` escapes them, so "<b>bold</b>" is never rendered as bold."""
    bold = edition_on(date(2026, 3, 5), bold_content())
    feed = feed_for(Source(sample.publication, (sample, bold), CREATED_AT), "briefings")
    item = json.loads(feed.render("json"))["items"][0]
    assert item["summary"] == "Prices rose & fell in March <b>bold</b>."
    assert item["title"] == "Tags <b>stay</b> text"
    assert "Prices rose &amp; fell in March &lt;b&gt;bold&lt;/b&gt;." in item["content_html"]
    assert "<b>" not in item["content_html"]
