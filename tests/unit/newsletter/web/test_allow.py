"""A 405 names in ``Allow`` every method the path accepts, whichever route serves each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.settings import EmailBackend, Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The whole app (its routes are what is checked; no data needed)."""
    folder: Path = tmp_path_factory.mktemp("allow")
    app = create_app(Settings(data_dir=folder, email_backend=EmailBackend.MEMORY))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        # Each path is served by two routes (a GET and another); Starlette said "GET".
        ("DELETE", "/api/briefings", "GET, POST"),
        ("DELETE", "/api/briefings/some-story", "GET, PUT"),
        ("DELETE", "/api/publications/morning", "GET, PATCH"),
        ("DELETE", "/api/publications/morning/schedule", "GET, PUT"),
        ("PUT", "/editor/login", "GET, POST"),
        ("DELETE", "/subscribe/morning", "GET, HEAD, POST"),
        ("DELETE", "/unsubscribe/token", "GET, HEAD, POST"),
        # One route with several methods was right before and stays right.
        ("POST", "/api/openapi.json", "GET"),
    ],
)
def test_405_lists_every_accepted_method(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    answer = client.request(method, path, headers={"accept": "application/json"})
    assert answer.status_code == 405
    assert answer.headers["allow"] == allow
