"""The static export writes the briefing, topic and OPML pages as the app serves them, and
a re-export after a takedown leaves none of the briefing's text anywhere."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter import urls
from newsletter.app.factory import create_app
from newsletter.briefings import services as briefings
from newsletter.db import Database
from newsletter.digests.public import refresh_web_copies
from newsletter.feeds.export import export_feeds
from newsletter.publications.models import Publication
from newsletter.settings import Settings
from tests.factories import make_publication
from tests.unit.newsletter.feeds.stored import DAY, edition

SECRET = "Unmistakable-secret-phrase"

PAGES = [
    "/",
    "/p/morning/",
    f"/p/morning/{DAY.isoformat()}/",
    "/p/morning/briefings/heat-record/",
    "/p/morning/briefings/tram-vote/",
    "/p/morning/topics/",
    "/p/morning/topics/climate/",
    "/p/morning/topics/c-plus-plus/",
    "/p/morning/feeds.opml",
]


def _seed(database: Database) -> None:
    with database.session() as session:
        make_publication(session)
        edition(session, DAY, ["heat-record"], topics=["Climate", "C++"], lede=SECRET)
        edition(session, DAY + timedelta(days=1), ["tram-vote"], topics=["Climate"])


def _file(root: Path, path: str) -> Path:
    relative = path.lstrip("/")
    return root / (relative + "index.html" if not relative or relative.endswith("/") else relative)


def _export(database: Database, root: Path) -> list[str]:
    with database.session() as session:
        result = export_feeds(session, root)
    return sorted(str(path) for path in result.files)


def test_export_writes_every_public_page_byte_for_byte(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    """Briefing pages, the topics index, topic pages and the OPML file are written at
    their URL paths with the bytes the app serves."""
    _seed(database)
    site = tmp_path / "site"
    written = _export(database, site)
    for path in PAGES:
        assert str(_file(site, path).relative_to(site)) in written, path
    with TestClient(create_app(settings)) as client:
        for path in PAGES:
            served = client.get(path)
            assert served.status_code == 200, path
            assert _file(site, path).read_bytes() == served.content, path


def test_a_reexport_after_a_takedown_holds_no_text(database: Database, tmp_path: Path) -> None:
    site = tmp_path / "site"
    """After a takedown, exporting again over the same folder leaves its text in no file:
    not its page, not its edition's page, not the topic pages, not a feed."""
    _seed(database)
    _export(database, site)
    page = _file(site, "/p/morning/briefings/heat-record/")
    assert SECRET in page.read_text()
    with database.session() as session:
        briefing = briefings.get_briefing(session, "heat-record")
        briefings.takedown(session, briefing, "Ed", "Court order")
        refresh_web_copies(session, briefing.id)
    _export(database, site)
    assert "This briefing has been removed." in page.read_text()
    leaking = [p for p in site.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaking == []
    topic = _file(site, "/p/morning/topics/climate/").read_text()
    assert "/briefings/heat-record/" not in topic


def test_a_publication_stored_with_control_characters_breaks_no_feed(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    """A name and tagline stored before the text rules held (ESC, BEL) lose those
    characters in every feed; the export finishes and every feed is served (issue 17 B4)."""
    _seed(database)
    with database.session() as session:
        publication = session.scalars(select(Publication)).one()
        publication.name = "Evil\x1b[31m"
        publication.tagline = "Bell\x07"
    written = _export(database, tmp_path / "site")
    feeds = [name for name in written if name.endswith((".xml", ".json"))]
    assert feeds
    with TestClient(create_app(settings)) as client:
        for fmt in ("rss", "atom", "json"):
            response = client.get(urls.feed("", "morning", "briefings", fmt))
            assert response.status_code == 200, fmt
            assert "Evil[31m" in response.text
            assert "\x1b" not in response.text
            assert "\x07" not in response.text
