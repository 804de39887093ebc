"""RSS 2.0 and Atom 1.0 output: valid, complete, escaped, deterministic, newest first."""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser
import pytest
from lxml import etree  # type: ignore[import-untyped]

from newsletter.content.edition import Edition
from newsletter.feeds.catalog import Feed, Source, feed_for
from newsletter.feeds.xml import build_atom, build_rss
from tests.fixtures.editions import make_content
from tests.unit.newsletter.feeds.conftest import (
    CREATED_AT,
    HUB,
    PUBLISHED_AT,
    bold_content,
    edition_on,
    shown,
    unicode_content,
)

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC = "{http://purl.org/dc/elements/1.1/}creator"


def _parse(data: bytes) -> Any:
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


@pytest.fixture
def feed(source: Source) -> Feed:
    """The briefings feed of the sample publication."""
    return feed_for(source, "briefings")


@pytest.mark.parametrize(("fmt", "version"), [("rss", "rss20"), ("atom", "atom10")])
def test_feedparser_reads_every_entry(feed: Feed, fmt: str, version: str) -> None:
    """Both formats parse without bozo, and each entry's id, title, link, dates, summary,
    content and categories come back as built."""
    parsed = _parse(feed.render(fmt))
    assert parsed.version == version
    assert parsed.feed.title == "The Morning Brief"
    assert parsed.feed.language == "en"
    assert len(parsed.entries) == len(feed.entries) == 3
    for got, want in zip(parsed.entries, feed.entries, strict=True):
        assert got.id == want.id
        assert got.title == want.title
        assert got.link == want.url
        assert datetime(*got.published_parsed[:6], tzinfo=UTC) == want.published
        if fmt == "atom":  # RSS items have no "updated" date, only pubDate
            assert datetime(*got.updated_parsed[:6], tzinfo=UTC) == want.updated
        assert shown(got.summary_detail) == want.summary
        assert got.content[0].type == "text/html"
        assert got.content[0].value.startswith('<article class="briefing"')
        assert [tag.term for tag in got.tags] == list(want.categories)
        assert got.author == "The Morning Brief"


def test_rss_has_the_required_channel_and_item_elements(feed: Feed) -> None:
    """RSS channels have title, link (the archive), description, self and hub links;
    items have a guid that is not their link (isPermaLink false), pubDate, description
    and content:encoded."""
    channel = etree.fromstring(feed.render("rss")).find("channel")
    assert channel.findtext("title") == "The Morning Brief"
    assert channel.findtext("link") == "https://news.example.org/p/morning-brief/"
    assert channel.findtext("description").startswith("What happened")
    links = {el.get("rel"): el.get("href") for el in channel.findall(f"{ATOM}link")}
    assert links == {"self": feed.spec.url("rss"), "hub": HUB}
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == PUBLISHED_AT
    for item in channel.findall("item"):
        guid = item.find("guid")
        assert guid.get("isPermaLink") == "false"
        assert guid.text.split("#")[0] != item.findtext("link")
        assert "/briefings/" in item.findtext("link")
        assert parsedate_to_datetime(item.findtext("pubDate")) == PUBLISHED_AT
        assert item.findtext("description")
        assert item.findtext(CONTENT).startswith("<article")
        assert item.findtext(DC) == "The Morning Brief"


def test_atom_has_the_required_feed_and_entry_elements(feed: Feed) -> None:
    """Atom feeds have id, title, updated, author, self, hub and alternate links;
    entries have id, title, updated, published and html content."""
    root = etree.fromstring(feed.render("atom"))
    assert root.findtext(f"{ATOM}id") == feed.spec.url("atom")
    assert root.findtext(f"{ATOM}title") == "The Morning Brief"
    assert root.findtext(f"{ATOM}updated") == PUBLISHED_AT.isoformat()
    assert root.findtext(f"{ATOM}author/{ATOM}name") == "The Morning Brief"
    links = {el.get("rel"): el.get("href") for el in root.findall(f"{ATOM}link")}
    assert links == {
        "self": feed.spec.url("atom"),
        "hub": HUB,
        "alternate": "https://news.example.org/p/morning-brief/",
    }
    for entry, want in zip(root.findall(f"{ATOM}entry"), feed.entries, strict=True):
        assert entry.findtext(f"{ATOM}id") == want.id
        assert entry.findtext(f"{ATOM}title") == want.title
        assert entry.findtext(f"{ATOM}updated") == want.updated.isoformat()
        assert entry.findtext(f"{ATOM}published") == PUBLISHED_AT.isoformat()
        assert entry.find(f"{ATOM}content").get("type") == "html"
        assert [link.get("href") for link in entry.findall(f"{ATOM}link")] == [want.url]


def test_no_hub_link_without_a_hub(source: Source) -> None:
    """Without a configured hub neither format names one."""
    feed = feed_for(replace(source, hub_url=None), "briefings")
    for fmt in ("rss", "atom"):
        assert b'rel="hub"' not in feed.render(fmt)
        assert b'rel="self"' in feed.render(fmt)


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_output_is_byte_identical_across_builds(source: Source, fmt: str) -> None:
    """The same data gives the same bytes, so ETags hold; no date is "now"."""
    first = feed_for(source, "editions").render(fmt)
    assert first == feed_for(source, "editions").render(fmt)
    parsed = _parse(first)
    dates = {parsed.feed.updated_parsed[:6]} | {e.published_parsed[:6] for e in parsed.entries}
    assert dates == {PUBLISHED_AT.timetuple()[:6]}


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_empty_feed_is_valid_and_dated_by_the_publication(source: Source, fmt: str) -> None:
    """A feed with no entries yet is valid and dated by the publication's creation."""
    empty = feed_for(replace(source, editions=()), "briefings")
    parsed = _parse(empty.render(fmt))
    assert parsed.entries == []
    assert datetime(*parsed.feed.updated_parsed[:6], tzinfo=UTC) == CREATED_AT


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_markup_and_non_ascii_text_stay_escaped_and_intact(sample: Edition, fmt: str) -> None:
    """Titles, summaries, categories and content keep <, &, quotes, é, ß and 東京 as text:
    the document has no element the briefing text tried to inject."""
    tokyo = edition_on(date(2026, 3, 5), unicode_content())
    source = Source(sample.publication, (sample, tokyo), CREATED_AT)
    feed = feed_for(source, "briefings")
    data = feed.render(fmt)
    root = etree.fromstring(data)
    assert not [el for el in root.iter() if etree.QName(el).localname in {"script", "em", "b"}]
    entry = _parse(data).entries[0]
    content = unicode_content()
    assert _title(data, fmt, entry) == content.title
    assert shown(entry.summary_detail) == content.lede[0]
    assert [tag.term for tag in entry.tags] == ["東京", "Café & Straße"]
    html = entry.content[0].value
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Größe &amp; Qualität: &lt;b&gt;東京&lt;/b&gt;" in html
    assert "<script" not in html
    assert "東京".encode() in data  # written as UTF-8, not as character references


def test_entries_keep_the_order_given() -> None:
    """Builders write entries in the order given (newest first), never reversed."""
    editions = tuple(edition_on(date(2026, 3, day), make_content(f"s{day}")) for day in (1, 2, 3))
    source = Source(editions[0].publication, editions, CREATED_AT)
    feed = feed_for(source, "briefings")
    for build in (build_rss, build_atom):
        ids = [entry.id for entry in _parse(build(feed.spec, feed.entries)).entries]
        assert ids == [entry.id for entry in feed.entries]
        assert ids[0].endswith("#s3")
        assert ids[-1].endswith("#s1")


def test_logo_becomes_icon_and_logo(source: Source) -> None:
    """A publication logo is the Atom feed's icon and logo."""
    publication = replace(source.publication, logo_url="https://news.example.org/logo.png")
    data = feed_for(replace(source, publication=publication), "briefings").render("atom")
    root = etree.fromstring(data)
    assert root.findtext(f"{ATOM}icon") == root.findtext(f"{ATOM}logo")
    assert root.findtext(f"{ATOM}logo") == "https://news.example.org/logo.png"


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_readers_show_briefing_markup_as_literal_text(sample: Edition, fmt: str) -> None:
    """Briefing text is plain text: where a field is HTML (RSS description, content) it
    is escaped, so a reader renders "<b>bold</b>" as those characters, never as bold."""
    bold = edition_on(date(2026, 3, 5), bold_content())
    feed = feed_for(Source(sample.publication, (sample, bold), CREATED_AT), "briefings")
    data = feed.render(fmt)
    entry = _parse(data).entries[0]
    text = bold_content().lede[0]
    assert shown(entry.summary_detail) == text
    assert _title(data, fmt, entry) == bold_content().title
    assert text in shown(entry.content[0])
    assert entry.content[0].type == "text/html"
    if fmt == "rss":
        item = etree.fromstring(data).find("channel/item")
        assert (
            item.findtext("description")
            == "Prices rose &amp; fell in March &lt;b&gt;bold&lt;/b&gt;."
        )
    else:
        summary = etree.fromstring(data).find(f"{ATOM}entry/{ATOM}summary")
        # Declared HTML and escaped: the W3C validator's ContainsUndeclaredHTML otherwise.
        assert summary.get("type") == "html"
        assert summary.text == html.escape(text, quote=False)


def _title(data: bytes, fmt: str, entry: Any) -> str:
    """The first entry's title as a reader gets it: RSS titles are plain text (the XML
    text of ``<title>``), Atom titles are typed text constructs."""
    if fmt == "rss":
        text: str = etree.fromstring(data).findtext("channel/item/title")
        return text
    return shown(entry.title_detail)


def test_rss_titles_are_plain_text_escaped_once() -> None:
    """RSS titles go in as written and are escaped exactly once, "&" and "<" as the
    hexadecimal references the RSS Best Practices Profile asks for: "Q & A" is written
    ``Q &#x26; A``, never ``&amp;amp;``, and parses back to the original characters."""
    for title in ("Q & A: 5 < 6", "Tags <b>stay</b>", "Fish &amp; chips", "&#38; <!-- x -->"):
        content = make_content("t", title=title)
        one = edition_on(date(2026, 3, 5), content)
        data = feed_for(Source(one.publication, (one,), CREATED_AT), "briefings").render("rss")
        assert etree.fromstring(data).findtext("channel/item/title") == title
        escaped = title.replace("&", "&#x26;").replace("<", "&#x3C;").replace(">", "&gt;")
        assert f"<title>{escaped}</title>".encode() in data
    plain = edition_on(date(2026, 3, 5), make_content("q", title="Q & A: 5 < 6"))
    data = feed_for(Source(plain.publication, (plain,), CREATED_AT), "briefings").render("rss")
    assert _parse(data).entries[0].title == "Q & A: 5 < 6"
