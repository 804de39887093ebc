"""Public pages and feeds of a date's two slot editions: each its own page, archive line,
feed entry (title and id unique per slot, stable), and links to its own page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.content.slots import SlotSpec
from newsletter.db import Database
from newsletter.digests.services import assemble_digest, publish_digest
from newsletter.parsing import WEEKDAYS
from newsletter.publications.services import get_publication
from newsletter.schedules import slots
from newsletter.settings import Settings
from tests.factories import make_briefing, make_publication

DAY = date(2026, 3, 4)
MORNING = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)
EVENING = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    """Publication 'morning' (UTC) with a published morning and evening edition of DAY."""
    with database.session() as session:
        make_publication(session)
        for name, at in (("morning", MORNING), ("evening", EVENING)):
            spec = SlotSpec(name, at.time(), frozenset(WEEKDAYS), 0)
            slots.add_slot(session, "morning", spec, now=MORNING - timedelta(days=1))
        make_briefing(session, slug="dawn-news", approved_at=MORNING - timedelta(hours=2))
        make_briefing(session, slug="dusk-news", approved_at=MORNING + timedelta(hours=2))
        publication = get_publication(session, "morning")
        for name, at in (("morning", MORNING), ("evening", EVENING)):
            digest = assemble_digest(session, publication, DAY, now=at, cutoff=at, slot=name).digest
            publish_digest(session, digest.id, now=at)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_each_slot_edition_has_its_own_page(client: TestClient) -> None:
    morning = client.get(f"/p/morning/{DAY}/morning/")
    evening = client.get(f"/p/morning/{DAY}/evening/")
    assert morning.status_code == evening.status_code == 200
    assert "dawn-news" in morning.text
    assert "dusk-news" not in morning.text
    assert "dusk-news" in evening.text
    assert '<strong class="kind">Evening</strong>' in evening.text
    assert f'<link rel="canonical" href="https://news.example.org/p/morning/{DAY}/evening/">' in (
        evening.text
    )
    assert client.get(f"/p/morning/{DAY}/noon/").status_code == 404
    assert client.get(f"/p/morning/{DAY}/").status_code == 404  # no main edition that day


def test_archive_and_editions_feed_name_each_slot(client: TestClient) -> None:
    archive = client.get("/p/morning/").text
    assert f"/p/morning/{DAY}/morning/" in archive
    assert f"/p/morning/{DAY}/evening/" in archive
    assert '<strong class="kind">Morning</strong>' in archive
    feed = json.loads(client.get("/p/morning/feeds/editions/feed.json").text)
    entries = {item["id"]: item["title"] for item in feed["items"]}
    assert len(entries) == 2
    ids = sorted(entries)
    assert ids == [
        f"https://news.example.org/p/morning/{DAY}/evening/",
        f"https://news.example.org/p/morning/{DAY}/morning/",
    ]
    assert entries[ids[0]].endswith(", evening")
    assert entries[ids[1]].endswith(", morning")
    again = json.loads(client.get("/p/morning/feeds/editions/feed.json").text)
    assert [item["id"] for item in again["items"]] == [item["id"] for item in feed["items"]]
    briefings = json.loads(client.get("/p/morning/feeds/briefings/feed.json").text)
    anchors = {item["id"] for item in briefings["items"]}
    assert f"https://news.example.org/p/morning/{DAY}/evening/#dusk-news" in anchors
