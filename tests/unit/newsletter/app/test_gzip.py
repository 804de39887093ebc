"""gzip on the wire: public pages and feeds when asked, never pages holding secrets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.db import Database
from newsletter.digests import services as digests
from newsletter.settings import Settings
from tests.factories import make_briefings, make_publication

DAY = date(2026, 3, 2)
GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    """The app over a publication with one published edition of twelve briefings."""
    with database.session() as session:
        publication = make_publication(session, max_briefings=12)
        make_briefings(session, 12)
        cutoff = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
        digest = digests.assemble_digest(session, publication, DAY, now=cutoff).digest
        digests.publish_digest(session, digest.id)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "path", ["/", "/p/morning/", "/p/morning/2026-03-02/", "/p/morning/briefings/story-1/"]
)
def test_public_pages_are_gzipped_when_asked(client: TestClient, path: str) -> None:
    """Compressed for a client that asks (and says so in Vary), plain for one that does not."""
    asked = client.get(path, headers=GZIP)
    assert asked.status_code == 200
    assert asked.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in asked.headers["vary"].lower()
    assert asked.text.lstrip().lower().startswith("<!doctype html>")
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.text == asked.text


def test_feeds_are_compressed_once(client: TestClient) -> None:
    """A feed asked for with gzip decodes once to the feed itself, not to more gzip."""
    response = client.get("/p/morning/feeds/briefings/rss.xml", headers=GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert response.content.startswith(b"<?xml")


def test_pages_with_secrets_are_never_compressed(client: TestClient) -> None:
    """The editors' sign-in page carries a CSRF token: no compression (BREACH)."""
    response = client.get("/editor/login", headers=GZIP)
    assert response.status_code == 200
    assert len(response.content) > 1024  # big enough that gzip would otherwise apply
    assert "csrf" in response.text.lower()
    assert "content-encoding" not in response.headers
