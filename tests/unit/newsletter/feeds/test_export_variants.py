"""The static export writes each topic variant's page, so a static archive answers a variant
reader's "view in browser" link (daily and weekly) with the bytes the app serves, and a
re-export after a takedown leaves the briefing's text on no variant page."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.briefings import services as briefings
from newsletter.db import Database
from newsletter.digests.public import refresh_web_copies
from newsletter.digests.variants import ensure_variant
from newsletter.feeds.export import export_feeds
from newsletter.settings import Settings
from tests.unit.newsletter.delivery.variant_factories import (
    DAY,
    published_edition,
    weekly_copy,
)


def _file(root: Path, path: str) -> Path:
    """Where the export puts the page of a URL path ending in ``/``."""
    return root / path.lstrip("/") / "index.html"


def _seed(database: Database) -> tuple[str, str]:
    """A published daily edition with a Climate variant and a weekly roundup with a variant
    of its own; the URL paths of both variants' pages."""
    with database.session() as session:
        published = published_edition(session, choices=(("Climate",),))
        roundup = weekly_copy(session, published.digest_id, DAY)
        daily_key = published.keys["Climate"]
        weekly = ensure_variant(session, roundup, (4, 2), ["Transport"])
        return (
            f"/p/morning/{DAY.isoformat()}/for/{daily_key}/",
            f"/p/morning/weekly/{DAY.isoformat()}/for/{weekly.key}/",
        )


def test_export_writes_variant_pages_as_served(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    """Both variant pages are files of the export, byte for byte what the app answers."""
    daily, weekly = _seed(database)
    with database.session() as session:
        result = export_feeds(session, tmp_path, publication="morning")
    written = {str(path) for path in result.files}
    with TestClient(create_app(settings)) as client:
        for path in (daily, weekly):
            assert str(_file(tmp_path, path).relative_to(tmp_path)) in written, path
            served = client.get(path)
            assert served.status_code == 200, path
            assert _file(tmp_path, path).read_bytes() == served.content, path
    daily_page = _file(tmp_path, daily).read_text(encoding="utf-8")
    assert "Heat record in the south" in daily_page
    assert "Tram line vote tonight" not in daily_page  # not on the reader's topics
    weekly_page = _file(tmp_path, weekly).read_text(encoding="utf-8")
    assert "Weekly roundup" in weekly_page


def test_reexport_after_takedown_clears_variant_pages(database: Database, tmp_path: Path) -> None:
    """A taken-down briefing's title is on no exported variant page after the next export."""
    daily, weekly = _seed(database)
    with database.session() as session:
        export_feeds(session, tmp_path, publication="morning")
    title = "Heat record in the south"
    assert title in _file(tmp_path, daily).read_text(encoding="utf-8")
    with database.session() as session:
        briefing = briefings.get_briefing(session, "heat-record")
        briefings.takedown(session, briefing, "Ed", "Court order")
        refresh_web_copies(session, briefing.id)
    with database.session() as session:
        export_feeds(session, tmp_path, publication="morning")
    for path in (daily, weekly):
        assert title not in _file(tmp_path, path).read_text(encoding="utf-8"), path
