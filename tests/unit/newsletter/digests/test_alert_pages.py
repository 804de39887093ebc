"""An alert's public side: its own page, its archive line, its editions-feed entry marked as
an alert, its static export; and its briefing stays out of the briefings feed until a
daily edition carries it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.app.factory import create_app
from newsletter.briefings.services import get_briefing
from newsletter.db import Database
from newsletter.digests.models import Digest
from newsletter.digests.public import public_editions
from newsletter.feeds.entries import ALERT_CATEGORY, entries_for_briefings, entries_for_editions
from newsletter.feeds.export import export_feeds
from newsletter.pipeline.alerts import start_alert
from newsletter.publishing.corrections import withdraw_briefing
from newsletter.settings import Settings
from tests.factories import make_briefing
from tests.unit.newsletter.pipeline import alert_seed
from tests.unit.newsletter.schedules import seed

NOW = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)


@pytest.fixture
def alert_key(database: Database) -> str:
    """A publication that sent briefing "flood" as an alert; the alert's key."""
    with database.session() as session:
        pub = seed.publication(session, briefings=0, created=NOW - timedelta(days=1))
        make_briefing(session, slug="flood", title="Flood <warning> & more", topics=["Climate"])
        alert_seed.alert_readers(session, pub, 2)
    with database.session() as session:
        started = start_alert(session, "flood", "morning", actor="Pat", now=NOW)
        digest = session.get(Digest, started.digest_id)
        assert digest is not None
        return digest.slot


@pytest.fixture
def client(settings: Settings, alert_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_the_alert_page_and_the_archive_line(client: TestClient, alert_key: str) -> None:
    """``/p/<pub>/alerts/<key>/`` is the stored page (escaped headline, marked as an alert);
    the archive lists it as an alert; an unknown key is a 404."""
    response = client.get(f"/p/morning/alerts/{alert_key}/")
    assert response.status_code == 200
    assert "Flood &lt;warning&gt; &amp; more" in response.text
    assert '<strong class="kind">Alert</strong>' in response.text
    assert 'class="contents"' not in response.text  # one briefing: no contents list
    assert client.get("/p/morning/alerts/999/").status_code == 404
    archive = client.get("/p/morning/").text
    assert f"/p/morning/alerts/{alert_key}/" in archive
    assert '<strong class="kind">Alert</strong>' in archive


def test_the_editions_feed_marks_the_alert(database: Database, alert_key: str) -> None:
    """Its own entry (id: its page), "alert" and the headline in the title, ``Alert`` first
    among the categories; the briefings feed leaves it to the daily edition."""
    with database.session() as session:
        editions = public_editions(session, list(session.scalars(select(Digest)).all()))
    [entry] = entries_for_editions(editions)
    assert entry.id == f"https://news.example.org/p/morning/alerts/{alert_key}/"
    assert entry.title == "The Morning Test: alert, Flood <warning> & more"
    assert entry.categories[0] == ALERT_CATEGORY
    assert "Climate" in entry.categories
    assert entries_for_briefings(editions) == []


def test_the_static_export_writes_the_alert_page(
    database: Database, alert_key: str, tmp_path: Path
) -> None:
    """``feeds export`` writes the alert's page at the path the app serves."""
    with database.session() as session:
        export_feeds(session, tmp_path / "public", publication="morning")
    page = tmp_path / "public" / "p" / "morning" / "alerts" / alert_key / "index.html"
    assert "Flood &lt;warning&gt; &amp; more" in page.read_text(encoding="utf-8")


def test_a_withdrawal_reaches_the_alert_page(
    client: TestClient, database: Database, alert_key: str
) -> None:
    """Withdrawing an alerted briefing replaces its text on the alert's page with the notice
    (the alert is a published edition that carried it)."""
    with database.session() as session:
        briefing = get_briefing(session, "flood")
        public = withdraw_briefing(session, briefing, "Pat", comment="Wrong valley")
        assert public.publications == ("morning",)
    page = client.get(f"/p/morning/alerts/{alert_key}/").text
    assert "This briefing was withdrawn" in page
    assert "What happened in flood." not in page
