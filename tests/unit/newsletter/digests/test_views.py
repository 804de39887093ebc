"""The public web archive shows published editions only, and every publication on the home page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.db import Database
from newsletter.digests.models import DigestState
from newsletter.settings import Settings
from tests.factories import make_publication
from tests.unit.newsletter.feeds.stored import DAY, edition

SENT = DAY.isoformat()
UNPUBLISHED = (DAY + timedelta(days=1)).isoformat()


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    """The web app over a publication with one sent and one merely rendered edition."""
    with database.session() as session:
        make_publication(session)
        edition(
            session, DAY, ["heat-record"], title="Heat & <records> fall", state=DigestState.SENT
        )
        edition(session, DAY + timedelta(days=1), ["secret-draft"], state=DigestState.RENDERED)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_edition_page_is_the_stored_web_page(client: TestClient, database: Database) -> None:
    """A published edition's page is exactly what was rendered with its email, cacheable."""
    response = client.get(f"/p/morning/{SENT}/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "public" in response.headers["cache-control"]
    assert "Heat &amp; &lt;records&gt; fall" in response.text
    assert 'type="application/atom+xml"' in response.text  # feed discovery


def test_unpublished_edition_is_not_found(client: TestClient) -> None:
    """A rendered but unpublished edition does not exist for the public."""
    response = client.get(f"/p/morning/{UNPUBLISHED}/")
    assert response.status_code == 404
    assert "secret" not in response.text


def test_archive_lists_only_published_editions(client: TestClient) -> None:
    """The archive index links the sent edition and not the unpublished one."""
    response = client.get("/p/morning/")
    assert response.status_code == 200
    assert f"/p/morning/{SENT}/" in response.text
    assert UNPUBLISHED not in response.text


@pytest.mark.parametrize(
    "path", ["/p/nope/", f"/p/nope/{SENT}/", "/p/morning/2026-02-30/", "/p/morning/yesterday/"]
)
def test_unknown_publication_or_date_is_404(client: TestClient, path: str) -> None:
    """Unknown publications and impossible dates answer 404, never 500."""
    assert client.get(path).status_code == 404


def test_home_lists_publications_with_their_links(client: TestClient) -> None:
    """The home page names each publication with its archive, sign-up form and feeds."""
    response = client.get("/")
    assert response.status_code == 200
    page = response.text
    assert "/p/morning/" in page
    assert "/subscribe/morning" in page
    assert "/p/morning/feeds/briefings/atom.xml" in page
    assert f"latest {SENT}" in page


def test_home_without_publications_says_how_to_add_one(
    settings: Settings, database: Database
) -> None:
    """An empty installation explains what to do instead of showing a blank page."""
    with TestClient(create_app(settings)) as client:
        assert "newsletter publications load" in client.get("/").text


@pytest.mark.parametrize("path", ["/", "/p/morning/", f"/p/morning/{SENT}/"])
def test_head_gives_the_get_headers_without_a_body(client: TestClient, path: str) -> None:
    """HEAD on the archive pages answers 200 with the GET's headers and no body."""
    got = client.get(path)
    head = client.head(path)
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "cache-control"):
        assert head.headers[name] == got.headers[name], name


def test_head_on_an_unpublished_edition_is_404(client: TestClient) -> None:
    """HEAD tells no more than GET: an unpublished edition is not found."""
    assert client.head(f"/p/morning/{UNPUBLISHED}/").status_code == 404
