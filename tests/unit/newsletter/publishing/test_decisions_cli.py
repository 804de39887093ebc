"""A correction, a withdrawal and a takedown, each made from the command line, reach in one
publish the served pages, all three feed formats, the static export and the WebSub hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.app.factory import create_app
from newsletter.briefings import services as briefings
from newsletter.db import Database
from newsletter.digests.models import Digest
from newsletter.settings import Settings
from tests.cli import run, run_json
from tests.factories import briefing_content, make_briefing, make_editors, make_publication
from tests.websubhub import Hub, running_hub

DAY = ("--publication", "morning", "--date", "2026-03-02")
FIRST = "The minister announced the plan on Monday."
FIXED = "The deputy minister announced the plan on Tuesday."
OTHER = "The other story, about the harbour."
FEEDS = ("rss.xml", "atom.xml", "feed.json")
EDITION = "/p/morning/2026-03-02/"


@pytest.fixture(autouse=True)
def accounts(database: Database) -> None:
    """The editor account these tests decide as."""
    make_editors(database, "Ada")


@pytest.fixture
def hub(cli_env: dict[str, str], database: Database) -> Iterator[tuple[dict[str, str], Hub]]:
    """A published edition carrying 'story' (Climate, C++) and 'other', and a WebSub hub."""
    with database.session() as session:
        make_publication(session)
        make_briefing(session, slug="story", topics=("Climate", "C++"), lede=FIRST)
        make_briefing(session, slug="other", topics=("Harbours",), lede=OTHER)
    with running_hub() as running:
        env = {**cli_env, "NEWSLETTER_WEBSUB_HUB_URL": running.url}
        published = run(env, "digest", "publish", *DAY)
        assert published.exit_code == 0, published.output
        running.pings.clear()
        yield env, running


def exported(data_dir: Path) -> dict[str, str]:
    """Every file of the static export, by path."""
    public = data_dir / "public"
    return {
        str(p.relative_to(public)): p.read_text("utf-8") for p in public.rglob("*") if p.is_file()
    }


def served(settings: Settings, *paths: str) -> dict[str, str]:
    """What the web app serves at these paths."""
    with TestClient(create_app(settings)) as client:
        out = {}
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, path
            out[path] = response.text
        return out


def feed_paths(kind: str) -> list[str]:
    """The three formats of one feed of 'morning'."""
    return [f"/p/morning/feeds/{kind}/{name}" for name in FEEDS]


def told(hub: Hub) -> set[str]:
    """Every hub.url the hub was told about."""
    return {url for ping in hub.pings for url in ping["hub.url"]}


def test_a_correction_reaches_pages_feeds_export_and_hub(
    hub: tuple[dict[str, str], Hub], database: Database, settings: Settings, data_dir: Path
) -> None:
    """Refused without a note; with one, every public copy shows the fix and the note."""
    env, running = hub
    with database.session() as session:
        changed = briefing_content(slug="story", topics=("Climate", "C++"), lede=FIXED)
        briefings.import_content(session, changed)
    refused = run(env, "briefings", "approve", "story", "--editor", "Ada")
    assert refused.exit_code == 2
    assert "note: briefing 'story' was published (morning 2026-03-02)" in refused.stderr
    note = "An earlier version named the wrong minister and day."
    result = run(env, "briefings", "approve", "story", "--editor", "Ada", "--note", note)
    assert result.exit_code == 0, result.output
    assert "a correction" in result.stdout
    assert "told the WebSub hub" in result.stdout
    paths = [EDITION, "/p/morning/briefings/story/", *feed_paths("briefings")]
    paths += feed_paths("topics/c-plus-plus")
    for path, body in served(settings, *paths).items():
        assert FIXED in body, path
        assert FIRST not in body, path
        assert note in body, path
    files = exported(data_dir)
    for path in paths:
        name = path.lstrip("/") + ("index.html" if path.endswith("/") else "")
        assert FIXED in files[name], name
        assert note in files[name], name
    urls = told(running)
    assert "http://127.0.0.1:8000/p/morning/feeds/topics/c-plus-plus/atom.xml" in urls or any(
        url.endswith("/p/morning/feeds/topics/c-plus-plus/atom.xml") for url in urls
    )
    assert not any("harbours" in url for url in urls)


def test_a_withdrawal_leaves_feeds_and_replaces_the_text(
    hub: tuple[dict[str, str], Hub], settings: Settings, data_dir: Path
) -> None:
    """The entry leaves every feed; the pages keep a notice; the hub hears of it."""
    env, running = hub
    result = run(env, "briefings", "withdraw", "other", "--editor", "Ada", "--comment", "Wrong.")
    assert result.exit_code == 0, result.output
    pages = served(settings, EDITION, *feed_paths("briefings"), *feed_paths("topics/harbours"))
    files = exported(data_dir)
    for path, body in pages.items():
        assert OTHER not in body, path
        name = path.lstrip("/") + ("index.html" if path.endswith("/") else "")
        assert OTHER not in files[name], name
    assert "withdrawn" in pages[EDITION].lower()
    assert FIRST in pages[EDITION]  # the rest of the edition is untouched
    assert any(url.endswith("/topics/harbours/rss.xml") for url in told(running))


def test_a_takedown_removes_the_text_from_everything(
    hub: tuple[dict[str, str], Hub], settings: Settings, data_dir: Path
) -> None:
    """No served page, feed or exported file holds the text afterwards."""
    env, running = hub
    refused = run(env, "briefings", "takedown", "story", "--editor", "Ada", "--reason", " ")
    assert refused.exit_code == 2
    assert "reason: required" in refused.stderr
    result = run(env, "briefings", "takedown", "story", "--editor", "Ada", "--reason", "Court")
    assert result.exit_code == 0, result.output
    assert "taken down" in result.stdout
    paths = [EDITION, "/p/morning/", *feed_paths("briefings"), *feed_paths("editions")]
    paths += feed_paths("topics/climate")
    for path, body in served(settings, *paths).items():
        assert FIRST not in body, path
    leaks = [name for name, body in exported(data_dir).items() if FIRST in body]
    assert leaks == []
    assert told(running)


def test_import_approve_holds_a_changed_published_briefing(
    hub: tuple[dict[str, str], Hub], tmp_path: Path
) -> None:
    """A trusted import cannot slip a correction past the note: it stays a draft."""
    env, _ = hub
    folder = tmp_path / "incoming"
    folder.mkdir()
    text = f"Title: Story\nSlug: story\n\nWhat's happened\n{FIXED}\n"
    (folder / "story.txt").write_text(text)
    (folder / "fresh.txt").write_text("Title: Fresh\n\nWhat's happened\nNew today.\n")
    result = run(env, "briefings", "import", str(folder), "--approve", "--editor", "Ada")
    assert result.exit_code == 0, result.output
    assert "story not approved: published before: approve it as a correction" in result.stdout
    states = {row["slug"]: row["state"] for row in run_json(env, "briefings", "list")}
    assert states["story"] == "draft"
    assert states["fresh"] == "approved"


def test_flushing_an_unknown_publication_is_one_clear_line(cli_env: dict[str, str]) -> None:
    """``publishing flush --publication nope``: exit 2 naming it, not "nothing to publish"."""
    result = run(cli_env, "publishing", "flush", "--publication", "nope")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: unknown publication 'nope'"


def test_rerender_renders_stored_pages_again_and_exports_them(
    hub: tuple[dict[str, str], Hub], database: Database, data_dir: Path
) -> None:
    """Pages stored by an older version are rendered again from the public view."""
    env, _ = hub
    with database.session() as session:
        for digest in session.scalars(select(Digest)):
            digest.web_html = "<p>rendered by an older version</p>"
    result = run(env, "publishing", "rerender")
    assert result.exit_code == 0, result.output
    assert "morning: re-rendered 1 edition pages." in result.stdout
    assert "morning: exported" in result.stdout
    page = exported(data_dir)["p/morning/2026-03-02/index.html"]
    assert FIRST in page
    assert "older version" not in page
    assert not list((data_dir / "public").rglob("*.partial"))
    unknown = run(env, "publishing", "rerender", "--publication", "nope")
    assert unknown.exit_code == 2


def test_a_topic_gained_by_a_correction_gets_its_feed_and_page(
    hub: tuple[dict[str, str], Hub], database: Database, settings: Settings
) -> None:
    """A corrected briefing naming a new topic appears in that topic's feeds and page."""
    env, running = hub
    with database.session() as session:
        changed = briefing_content(slug="story", topics=("Climate", "C++", "Energy"), lede=FIXED)
        briefings.import_content(session, changed)
    note = "This briefing now also covers energy."
    result = run(env, "briefings", "approve", "story", "--editor", "Ada", "--note", note)
    assert result.exit_code == 0, result.output
    pages = served(settings, *feed_paths("topics/energy"), "/p/morning/topics/energy/")
    for path, body in pages.items():
        assert FIXED in body or "briefings/story/" in body, path
    assert any(url.endswith("/topics/energy/rss.xml") for url in told(running))
