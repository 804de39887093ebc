"""A topic variant's "view in browser" page: exactly the reader's briefings, as they stand now.

Runs the whole web app on SQLite and on PostgreSQL (``NEWSLETTER_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsletter import urls
from newsletter.app.factory import create_app
from newsletter.briefings import services as briefings
from newsletter.db import Database
from newsletter.digests.models import DigestState
from newsletter.digests.variant_pages import variant_pages
from newsletter.publications.models import TopicMode
from newsletter.settings import EmailBackend, Settings
from tests.factories import briefing_content
from tests.unit.newsletter.delivery.variant_factories import (
    DAY,
    Published,
    published_edition,
    variant_of,
    weekly_copy,
)


@pytest.fixture
def database(any_database: Database) -> Database:
    """The test's database: SQLite, then PostgreSQL."""
    return any_database


@pytest.fixture
def client(database: Database, data_dir: Path) -> Iterator[TestClient]:
    """The whole app on the test's database."""
    settings = Settings(
        data_dir=data_dir, database_url=database.url, email_backend=EmailBackend.MEMORY
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _titles(page: str) -> list[str]:
    """The briefing headings of a page, in order (the text of each article's h2 link)."""
    return re.findall(r"<article[^>]*>.*?<h2[^>]*>\s*<a[^>]*>(.*?)</a>", page, re.S)


def _path(published: Published, topics: str) -> str:
    edition_url = urls.edition_page("", "morning", DAY)
    return urls.variant_page(edition_url, published.keys[topics])


def _published(database: Database, **kwargs: object) -> Published:
    with database.session() as session:
        return published_edition(session, **kwargs)  # type: ignore[arg-type]


def test_variant_page_shows_exactly_the_readers_briefings(
    client: TestClient, database: Database
) -> None:
    """The page carries the variant's briefings only, says which topics, links the full edition."""
    published = _published(database)
    page = client.get(_path(published, "Climate"))
    assert page.status_code == 200
    assert page.headers["cache-control"] == "public, max-age=300"
    assert _titles(page.text) == ["Heat record in the south", "New rules for chip makers"]
    assert "2 of 4 briefings, on Climate" in page.text
    full = urls.edition_page("https://news.example.org", "morning", DAY)
    assert f'<link rel="canonical" href="{full}">' in page.text
    assert f'<a href="{full}">Read the full edition</a>' in page.text
    assert "Tram line vote" not in page.text

    docks = client.get(_path(published, "Harbour & Docks")).text
    assert _titles(docks) == ["Port strike: &#34;day three&#34; &lt;continues&gt;"]
    assert "on Harbour &amp; Docks" in docks
    assert "<continues>" not in docks


def test_first_mode_keeps_the_variant_order(client: TestClient, database: Database) -> None:
    """With topics first, the page lists the reader's briefings first, then the rest, as sent."""
    published = _published(database, choices=[("Transport",)], mode=TopicMode.FIRST)
    page = client.get(_path(published, "Transport")).text
    assert _titles(page) == [
        "Tram line vote tonight",
        "Heat record in the south",
        "New rules for chip makers",
        "Port strike: &#34;day three&#34; &lt;continues&gt;",
    ]
    assert "4 of 4 briefings, on Transport" in page


def test_unknown_keys_and_unpublished_editions_are_404(
    client: TestClient, database: Database
) -> None:
    """Only rendered variants of published editions have a page; nothing else is built."""
    published = _published(database, state=DigestState.RENDERED)
    assert client.get(_path(published, "Climate")).status_code == 404  # not public yet
    with database.session() as session:
        from newsletter.digests.models import Digest, transition

        digest = session.get(Digest, published.digest_id)
        assert digest is not None
        transition(digest, DigestState.PUBLISHED)
    assert client.get(_path(published, "Climate")).status_code == 200
    base = urls.edition_page("", "morning", DAY)
    for key in ("2.1", "1", "1.3.3", "x", "1..2", "9" * 6, "-1"):
        response = client.get(urls.variant_page(base, key))
        assert response.status_code == 404, key
    assert client.get(f"/p/morning/2026-13-40/for/{published.keys['Climate']}/").status_code == 404
    assert client.get(f"/p/nope/{DAY}/for/{published.keys['Climate']}/").status_code == 404
    head = client.head(_path(published, "Climate"))
    assert head.status_code == 200
    assert head.content == b""


def test_corrections_withdrawals_and_takedowns_reach_the_variant_page(
    client: TestClient, database: Database
) -> None:
    """The page is the current public view: corrected text, a withdrawal notice, no removed text."""
    published = _published(database)
    path = _path(published, "Climate")
    with database.session() as session:
        content = briefing_content(
            slug="heat-record", title="Heat record in the south (corrected)", topics=["Climate"]
        )
        briefings.import_content(session, content)
        briefing = briefings.get_briefing(session, "heat-record")
        briefings.approve(session, briefing, "Ed", correction_note="It was 41 <C>, not 44.")
    page = client.get(path).text
    assert "Heat record in the south (corrected)" in page
    assert "It was 41 &lt;C&gt;, not 44." in page

    with database.session() as session:
        briefing = briefings.get_briefing(session, "chip-rules")
        briefings.withdraw(session, briefing, "Ed", "Sources retracted", public=True)
        briefing = briefings.get_briefing(session, "heat-record")
        briefings.takedown(session, briefing, "Ed", "Court order 12/2026")
    page = client.get(path).text
    assert "This briefing was withdrawn on " in page
    assert "This briefing has been removed." in page
    assert "Heat record" not in page
    assert "Court order" not in page
    with database.session() as session:  # the stored email is what was sent, unchanged
        assert "Heat record in the south" in variant_of(session, published.variants["Climate"]).html


def test_weekly_roundup_variants_have_their_own_pages(
    client: TestClient, database: Database
) -> None:
    """A weekly variant's page sits under /weekly/ and links the roundup; the daily key is apart."""
    from newsletter.digests.variants import ensure_variant, item_topics, select_positions

    published = _published(database)
    with database.session() as session:
        weekly = weekly_copy(session, published.digest_id, DAY)
        positions = select_positions(item_topics(weekly), ["Climate"], TopicMode.ONLY)
        assert positions is not None
        key = ensure_variant(session, weekly, positions, ["Climate"]).key
    roundup = urls.edition_page("", "morning", DAY, weekly=True)
    page = client.get(urls.variant_page(roundup, key))
    assert page.status_code == 200, page.text
    assert _titles(page.text) == ["New rules for chip makers", "Heat record in the south"]
    assert "From the weekly roundup: 2 of 4 briefings, on Climate" in page.text
    assert f'href="https://news.example.org{roundup}">Read the full roundup</a>' in page.text
    assert f"/p/morning/{DAY}/" not in page.text  # nothing points at the daily edition
    if key != published.keys["Climate"]:  # the daily edition has no variant with this key
        daily = urls.variant_page(urls.edition_page("", "morning", DAY), key)
        assert client.get(daily).status_code == 404


def test_pages_are_gzipped_when_asked_and_exportable(
    client: TestClient, database: Database
) -> None:
    """Like the other public pages: gzip on request; every variant listed for the export."""
    published = _published(database)
    response = client.get(
        _path(published, "Climate"), headers={"Accept-Encoding": "gzip"}, follow_redirects=False
    )
    assert response.headers.get("content-encoding") == "gzip"
    with database.session() as session:
        pages = dict(variant_pages(session, "morning"))
    assert set(pages) == {_path(published, topics) for topics in published.keys}
    assert pages[_path(published, "Climate")] == client.get(_path(published, "Climate")).text
