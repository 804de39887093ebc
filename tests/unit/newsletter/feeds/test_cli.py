"""``newsletter feeds export``: every feed and archive page at the URL paths, nothing else."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import feedparser
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.db import Database
from newsletter.digests.models import DigestState
from newsletter.settings import Settings
from tests.cli import run
from tests.factories import make_publication
from tests.unit.newsletter.feeds.stored import DAY, edition


def _seed(database: Database) -> None:
    with database.session() as session:
        make_publication(session)
        edition(session, DAY, ["heat-record"], topics=["Climate"], state=DigestState.SENT)
        edition(session, DAY + timedelta(days=1), ["draft-story"], state=DigestState.RENDERED)


def test_export_writes_every_feed_and_archive_page(
    cli_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    """Each feed kind in each format, the archive index and published edition pages are
    written at their URL paths; the unpublished edition is nowhere."""
    _seed(database)
    target = tmp_path / "site"
    env = {**cli_env, "NEWSLETTER_WEBSUB_HUB_URL": "https://hub.example.net/"}
    result = run(env, "feeds", "export", str(target))
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    feeds = [
        f"p/morning/feeds/{kind}/{name}"
        for kind in ("briefings", "editions", "topics/climate")
        for name in ("atom.xml", "feed.json", "rss.xml")
    ]
    pages = ["index.html", "p/morning/2026-03-02/index.html", "p/morning/index.html"]
    pages += [
        "p/morning/briefings/heat-record/index.html",
        "p/morning/topics/index.html",
        "p/morning/topics/climate/index.html",
        "p/morning/feeds.opml",
    ]
    assert written == sorted([*feeds, *pages])
    assert "Wrote 16 files" in result.output
    assert "p/morning/feeds/briefings/rss.xml" in result.output
    atom = feedparser.parse((target / "p/morning/feeds/briefings/atom.xml").read_bytes())
    assert not atom.bozo
    assert [e.id.rsplit("#", 1)[1] for e in atom.entries] == ["heat-record"]
    document = json.loads((target / "p/morning/feeds/editions/feed.json").read_text())
    assert document["hubs"] == [{"type": "WebSub", "url": "https://hub.example.net/"}]
    assert "draft-story" not in (target / "p/morning/index.html").read_text()


def test_export_is_repeatable_byte_for_byte(
    cli_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    """Exporting twice writes identical files; one publication's export leaves out only
    the home page."""
    _seed(database)
    run(cli_env, "feeds", "export", str(tmp_path / "a"))
    run(cli_env, "feeds", "export", str(tmp_path / "b"), "--publication", "morning")
    a_files = {p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*")}
    b_files = {p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.*")}
    assert a_files - b_files == {Path("index.html")}
    for path in b_files:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()


def test_exported_pages_are_the_pages_the_web_app_serves(
    cli_env: dict[str, str], settings: Settings, database: Database, tmp_path: Path
) -> None:
    """The home page, the archive index and each published edition page are written
    byte for byte as the web app serves them, at the same paths."""
    _seed(database)
    run(cli_env, "feeds", "export", str(tmp_path / "site"))
    with TestClient(create_app(settings)) as client:
        for path in ("/", "/p/morning/", "/p/morning/2026-03-02/"):
            served = client.get(path)
            assert served.status_code == 200
            written = tmp_path / "site" / path.lstrip("/") / "index.html"
            assert written.read_bytes() == served.content, path


def test_unknown_publication_or_bad_folder_fails_with_one_line(
    cli_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    """An unknown --publication or a DIRECTORY that is a file exits 2 and writes nothing."""
    _seed(database)
    result = run(cli_env, "feeds", "export", str(tmp_path / "out"), "-p", "nope")
    assert result.exit_code == 2
    assert "unknown publication 'nope'" in result.output
    assert not (tmp_path / "out").exists()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    result = run(cli_env, "feeds", "export", str(a_file))
    assert result.exit_code == 2
    assert "exists and is not a folder" in result.output
