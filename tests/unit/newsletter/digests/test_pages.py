"""Briefing pages, topic pages, the OPML file and the guessed feed addresses, over HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.app.factory import create_app
from newsletter.briefings import services as briefings
from newsletter.db import Database
from newsletter.digests.models import Digest, DigestState
from newsletter.digests.pages import rerender_edition_pages
from newsletter.publications.services import get_publication
from newsletter.publications.topics import assign_topic_slugs
from newsletter.settings import Settings
from tests.factories import briefing_content, make_publication
from tests.unit.newsletter.feeds.stored import DAY, edition

FIRST = DAY.isoformat()
SECOND = (DAY + timedelta(days=1)).isoformat()
HOSTILE = 'Tom & <b>"Jerry"</b>'


class _Links(HTMLParser):
    """The <link rel="alternate"> hrefs and every <a href> of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.alternates: list[str] = []
        self.anchors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "link" and values.get("rel") == "alternate":
            self.alternates.append(values["href"] or "")
        if tag == "a":
            self.anchors.append(values.get("href") or "")


def links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def _publish(session: Session) -> None:
    make_publication(session)
    edition(session, DAY, ["heat-record", "tram-vote"], topics=["Climate", HOSTILE, "C++"])
    edition(session, DAY + timedelta(days=1), ["chip-rules"], topics=["C#", "Climate"])
    edition(session, DAY + timedelta(days=2), ["draft-story"], state=DigestState.RENDERED)


@pytest.fixture
def database_with_editions(database: Database) -> Database:
    """Two published editions (three briefings, hostile and colliding topics), one unpublished."""
    with database.session() as session:
        _publish(session)
    return database


@pytest.fixture
def client(settings: Settings, database_with_editions: Database) -> Iterator[TestClient]:
    """The web app over the published editions."""
    with TestClient(create_app(settings), follow_redirects=False) as test_client:
        yield test_client


def test_briefing_page_shows_the_briefing_and_links_its_edition(client: TestClient) -> None:
    """A published briefing has its own page: its text, its edition, the briefings feed."""
    response = client.get("/p/morning/briefings/heat-record/")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    page = response.text
    assert "What happened in heat-record." in page
    assert (
        '<link rel="canonical" href="https://news.example.org/p/morning/briefings/heat-record/">'
        in page
    )
    found = links(page)
    assert f"https://news.example.org/p/morning/{FIRST}/" in found.anchors
    assert [href.rsplit("/", 2)[-2] for href in found.alternates] == ["briefings"] * 3


@pytest.mark.parametrize(
    "path",
    [
        "/p/morning/briefings/draft-story/",  # only in an unpublished edition
        "/p/morning/briefings/nope/",
        "/p/nope/briefings/heat-record/",
        "/p/morning/topics/nope/",
        "/p/nope/topics/",
        "/p/nope/feeds.opml",
        "/p/nope/rss",
    ],
)
def test_unknown_or_unpublished_is_404(client: TestClient, path: str) -> None:
    """What was never published in the publication does not exist for the public."""
    response = client.get(path)
    assert response.status_code == 404
    assert "What happened in draft-story" not in response.text


def test_topic_names_link_to_their_pages(client: TestClient) -> None:
    """Topic names on pages are links to the topic's page, with stable distinct slugs."""
    page = client.get(f"/p/morning/{FIRST}/").text
    anchors = links(page).anchors
    assert "https://news.example.org/p/morning/topics/c-plus-plus/" in anchors
    assert "https://news.example.org/p/morning/topics/climate/" in anchors
    assert "Tom &amp; &lt;b&gt;&#34;Jerry&#34;&lt;/b&gt;" in page


def test_topic_page_lists_its_briefings_newest_first_with_its_feeds(client: TestClient) -> None:
    """A topic page lists the publication's briefings on it, newest first, and its feeds."""
    response = client.get("/p/morning/topics/climate/")
    assert response.status_code == 200
    page = response.text
    assert page.index("/briefings/chip-rules/") < page.index("/briefings/heat-record/")
    assert "/briefings/draft-story/" not in page
    assert links(page).alternates == [
        "https://news.example.org/p/morning/feeds/topics/climate/rss.xml",
        "https://news.example.org/p/morning/feeds/topics/climate/atom.xml",
        "https://news.example.org/p/morning/feeds/topics/climate/feed.json",
    ]
    sharp = client.get("/p/morning/topics/c-sharp/").text
    assert "/briefings/chip-rules/" in sharp
    assert "/briefings/heat-record/" not in sharp


def test_topics_index_lists_every_topic_with_three_feeds(client: TestClient) -> None:
    """The topics index names each topic, links its page and its three feeds, escaped."""
    response = client.get("/p/morning/topics/")
    assert response.status_code == 200
    anchors = links(response.text).anchors
    for slug in ("climate", "c-plus-plus", "c-sharp"):
        assert f"https://news.example.org/p/morning/topics/{slug}/" in anchors
        for name in ("rss.xml", "atom.xml", "feed.json"):
            assert f"https://news.example.org/p/morning/feeds/topics/{slug}/{name}" in anchors
    assert "<b>" not in response.text
    assert "https://news.example.org/p/morning/feeds.opml" in anchors


def test_archive_index_advertises_both_feeds_and_links_topics(client: TestClient) -> None:
    """The archive index has briefings and editions feeds in its head and links the topics."""
    found = links(client.get("/p/morning/").text)
    kinds = [href.rsplit("/", 2)[-2] for href in found.alternates]
    assert kinds == ["briefings"] * 3 + ["editions"] * 3
    assert "https://news.example.org/p/morning/topics/" in found.anchors


def test_home_advertises_every_publications_feeds(
    settings: Settings, database_with_editions: Database
) -> None:
    """The home page's head has each publication's briefings feeds; its body every feed kind."""
    with database_with_editions.session() as session:
        make_publication(session, slug="evening", name="Evening")
    with TestClient(create_app(settings)) as test_client:
        page = test_client.get("/").text
    found = links(page)
    assert found.alternates == [
        f"/p/{slug}/feeds/briefings/{name}"
        for slug in ("evening", "morning")
        for name in ("rss.xml", "atom.xml", "feed.json")
    ]
    for path in (
        "/p/morning/feeds/editions/atom.xml",
        "/p/morning/topics/",
        "/p/morning/feeds.opml",
    ):
        assert path in found.anchors


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/p/morning/rss", "rss.xml"),
        ("/p/morning/feed", "rss.xml"),
        ("/p/morning/atom", "atom.xml"),
        ("/p/morning/feed.json", "feed.json"),
        ("/p/morning/rss/", "rss.xml"),
        ("/p/morning/atom/", "atom.xml"),
    ],
)
def test_guessed_feed_addresses_redirect_to_real_feeds(
    client: TestClient, path: str, target: str
) -> None:
    """/p/<slug>/rss and friends answer 301 to the briefings feed, which is served."""
    for method in (client.get, client.head):
        response = method(path)
        assert response.status_code == 301
        assert response.headers["location"] == f"/p/morning/feeds/briefings/{target}"
    assert client.get(response.headers["location"]).status_code == 200


def test_root_feed_goes_to_the_only_publication_or_home(
    settings: Settings, client: TestClient
) -> None:
    """/feed redirects to the one publication's RSS feed; with two, to the home page."""
    response = client.get("/feed")
    assert response.status_code == 307
    assert response.headers["location"] == "/p/morning/feeds/briefings/rss.xml"
    with client.app.state.runtime.database.session() as session:  # type: ignore[attr-defined]
        make_publication(session, slug="evening", name="Evening")
    assert client.get("/feed").headers["location"] == "/"


def test_opml_lists_every_feed_as_valid_xml(client: TestClient) -> None:
    """The OPML file is OPML 2.0, served as text/x-opml, one outline per feed, escaped."""
    response = client.get("/p/morning/feeds.opml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/x-opml; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=300"
    root = ET.fromstring(response.content)
    assert root.tag == "opml"
    assert root.get("version") == "2.0"
    feeds = [o for o in root.iter("outline") if o.get("type") == "rss"]
    urls = [o.get("xmlUrl") for o in feeds]
    base = "https://news.example.org/p/morning/feeds/"
    assert urls[:2] == [base + "briefings/rss.xml", base + "editions/rss.xml"]
    assert base + "topics/c-plus-plus/rss.xml" in urls
    assert all(o.get("text") and o.get("htmlUrl") for o in feeds)
    texts = [o.get("text") for o in feeds]
    assert f"The Morning Test: {HOSTILE}" in texts
    for url in urls:
        assert client.get(str(url).removeprefix("https://news.example.org")).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/p/morning/briefings/heat-record/",
        "/p/morning/topics/",
        "/p/morning/topics/climate/",
        "/p/morning/feeds.opml",
    ],
)
def test_head_answers_like_get(client: TestClient, path: str) -> None:
    """HEAD on the new pages gives GET's headers and no body."""
    got = client.get(path)
    head = client.head(path)
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "cache-control"):
        assert head.headers[name] == got.headers[name], name


def _correct(database: Database, slug: str, note: str) -> None:
    with database.session() as session:
        content = briefing_content(slug=slug, title="Heat record (corrected)", lede="Fixed.")
        briefings.import_content(session, content)
        briefing = briefings.get_briefing(session, slug)
        briefings.approve(session, briefing, "Ed", correction_note=note)


def test_briefing_page_shows_the_corrected_text_with_a_dated_note(
    client: TestClient, database_with_editions: Database
) -> None:
    """After a correction, the briefing page shows the new text and a dated Correction note."""
    _correct(database_with_editions, "heat-record", "The record was 41 <C>, not 44.")
    page = client.get("/p/morning/briefings/heat-record/").text
    assert "Heat record (corrected)" in page
    assert "What happened in heat-record." not in page
    assert "<strong>Correction</strong>" in page
    assert "The record was 41 &lt;C&gt;, not 44." in page


def test_withdrawn_briefing_page_shows_a_notice_instead_of_the_text(
    client: TestClient, database_with_editions: Database
) -> None:
    """A withdrawn briefing's page shows a dated notice and none of its text; topics drop it."""
    with database_with_editions.session() as session:
        briefing = briefings.get_briefing(session, "heat-record")
        briefings.withdraw(session, briefing, "Ed", "Sources retracted", public=True)
    page = client.get("/p/morning/briefings/heat-record/").text
    assert "This briefing was withdrawn on " in page
    assert "What happened in heat-record." not in page
    assert "/briefings/heat-record/" not in client.get("/p/morning/topics/climate/").text


def test_taken_down_briefing_page_holds_no_text(
    client: TestClient, database_with_editions: Database
) -> None:
    """A taken-down briefing's page says it was removed and holds none of its text."""
    with database_with_editions.session() as session:
        briefing = briefings.get_briefing(session, "heat-record")
        briefings.takedown(session, briefing, "Ed", "Court order 12/2026")
    page = client.get("/p/morning/briefings/heat-record/").text
    assert "This briefing has been removed." in page
    assert "heat-record." not in page
    assert "Court order" not in page
    assert "Heat record" not in page


def test_a_topic_gained_by_a_correction_lists_the_briefing(
    client: TestClient, database_with_editions: Database
) -> None:
    """A correction that adds a topic puts the briefing on that topic's page."""
    with database_with_editions.session() as session:
        content = briefing_content(slug="chip-rules", title="Chip rules", topics=["Trade"])
        briefings.import_content(session, content)
        briefing = briefings.get_briefing(session, "chip-rules")
        briefings.approve(session, briefing, "Ed", correction_note="Added the trade angle.")
        assign_topic_slugs(session, get_publication(session, "morning"), ["Trade"])
    page = client.get("/p/morning/topics/trade/").text
    assert "/briefings/chip-rules/" in page


def test_stored_edition_pages_can_be_rendered_again(
    client: TestClient, database_with_editions: Database
) -> None:
    """After an upgrade, every published edition's stored page is rendered with the
    current templates; unpublished editions keep theirs."""
    with database_with_editions.session() as session:
        digests = session.scalars(select(Digest).order_by(Digest.edition_date)).all()
        for digest in digests:
            digest.web_html = "old page"
        assert rerender_edition_pages(session, "morning", batch=1) == 2
        assert [d.web_html == "old page" for d in digests] == [False, False, True]
    page = client.get(f"/p/morning/{FIRST}/").text
    assert "/p/morning/feeds/editions/rss.xml" in page
