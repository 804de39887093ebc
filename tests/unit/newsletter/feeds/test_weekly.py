"""Weekly roundups in feeds and the export: the editions feed carries them as their own kind,
the briefings and topic feeds do not repeat their briefings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.content.edition import Cadence
from newsletter.db import Database
from newsletter.digests import services
from newsletter.feeds.catalog import feed_for
from newsletter.feeds.entries import WEEKLY_CATEGORY
from newsletter.feeds.export import export_feeds
from newsletter.feeds.loading import load_feed
from newsletter.feeds.services import load_source
from newsletter.publications.services import get_publication
from newsletter.settings import Settings
from tests.factories import make_publication
from tests.unit.newsletter.feeds.stored import DAY, edition

ROUNDUP_DAY = DAY + timedelta(days=7)  # Monday 9 March 2026
BASE = "https://news.example.org/p/morning"
WEEKLY_URL = f"{BASE}/weekly/{ROUNDUP_DAY.isoformat()}/"
DAILY_URL = f"{BASE}/{ROUNDUP_DAY.isoformat()}/"


@pytest.fixture
def week(database: Database) -> Database:
    """Seven published daily editions of one briefing each (topic Climate), the next
    Monday's daily edition and that Monday's published roundup."""
    with database.session() as session:
        make_publication(session).weekly_days = ["mon"]
        for n in range(8):
            edition(session, DAY + timedelta(days=n), [f"story-{n}"], topics=["Climate"])
        now = datetime(2026, 3, 9, 6, 30, tzinfo=UTC)
        roundup = services.assemble_digest(
            session,
            get_publication(session, "morning"),
            ROUNDUP_DAY,
            now=now,
            cadence=Cadence.WEEKLY,
        ).digest
        assert len(roundup.items) == 7  # story-1 .. story-7: approved in the week
        services.publish_digest(session, roundup.id, now=now)
    return database


def test_editions_feed_carries_the_roundup_as_its_own_kind(week: Database) -> None:
    """The roundup is an editions-feed entry of its own: its own id (its page, not the
    daily edition's of the same date), "weekly roundup" in the title, and its kind as the
    first category in RSS, Atom and JSON Feed."""
    with week.session() as session:
        feed = load_feed(session, get_publication(session, "morning"), "editions")
    ids = [entry.id for entry in feed.entries]
    assert WEEKLY_URL in ids
    assert DAILY_URL in ids
    assert len(ids) == len(set(ids)) == 9
    weekly = next(entry for entry in feed.entries if entry.id == WEEKLY_URL)
    assert weekly.title == "The Morning Test: weekly roundup, Monday 9 March 2026"
    assert weekly.categories[0] == WEEKLY_CATEGORY
    assert weekly.url == WEEKLY_URL
    daily = next(entry for entry in feed.entries if entry.id == DAILY_URL)
    assert WEEKLY_CATEGORY not in daily.categories
    assert "weekly" not in daily.title

    rss = feedparser.parse(feed.render("rss"))
    atom = feedparser.parse(feed.render("atom"))
    for parsed in (rss, atom):
        entry = next(e for e in parsed.entries if e.id == WEEKLY_URL)
        assert "weekly roundup" in entry.title
        assert WEEKLY_CATEGORY in [tag.term for tag in entry.tags]
    items = json.loads(feed.render("json"))["items"]
    item = next(i for i in items if i["id"] == WEEKLY_URL)
    assert item["tags"][0] == WEEKLY_CATEGORY
    assert "weekly roundup" in item["title"]


@pytest.mark.parametrize("kind", ["briefings", "topics/climate"])
def test_briefings_and_topic_feeds_do_not_repeat_the_roundup(week: Database, kind: str) -> None:
    """Each briefing has one entry, from its daily edition: the roundup adds none."""
    with week.session() as session:
        feed = load_feed(session, get_publication(session, "morning"), kind)
        whole = feed_for(load_source(session, "morning"), kind)
    ids = [entry.id for entry in feed.entries]
    assert len(ids) == len(set(ids)) == 8
    assert all("/weekly/" not in entry_id for entry_id in ids)
    assert [e.id for e in whole.entries] == ids  # the export builds the same feed


def test_editions_feed_loaded_alone_is_the_exported_one(week: Database) -> None:
    """The editions feed loaded a page at a time equals the one built from every edition."""
    with week.session() as session:
        alone = load_feed(session, get_publication(session, "morning"), "editions", limit=3)
        whole = feed_for(load_source(session, "morning", limit=3), "editions")
    for fmt in ("rss", "atom", "json"):
        assert alone.render(fmt) == whole.render(fmt)
    assert alone.entries[0].id == WEEKLY_URL  # published last


def test_export_writes_the_roundup_page_as_served(
    week: Database, settings: Settings, tmp_path: Path
) -> None:
    """The static export writes /p/<slug>/weekly/<date>/ with the bytes the app serves."""
    with week.session() as session:
        export_feeds(session, tmp_path)
    written = tmp_path / "p" / "morning" / "weekly" / ROUNDUP_DAY.isoformat() / "index.html"
    with TestClient(create_app(settings)) as client:
        served = client.get(f"/p/morning/weekly/{ROUNDUP_DAY.isoformat()}/")
    assert served.status_code == 200
    assert written.read_text(encoding="utf-8") == served.text
    assert "Weekly roundup" in served.text
