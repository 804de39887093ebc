"""The app factory: error pages for people, JSON for programs, security headers, body cap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.errors import InvalidInputError, RetryableError, UserError, VerificationError
from newsletter.settings import Settings
from newsletter.web.handlers import status_of
from newsletter.web.middleware import SECURITY_HEADERS

JSON = {"accept": "application/json"}


@pytest.fixture
def app(data_dir: Path) -> FastAPI:
    """An app with a few routes that fail on purpose."""
    app = create_app(Settings(data_dir=data_dir))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/provider")
    def provider() -> None:
        raise RetryableError("SendGrid said 503")

    @app.get("/forbidden")
    def forbidden() -> None:
        raise VerificationError("bad signature")

    @app.post("/echo")
    async def echo(body: dict[str, int]) -> dict[str, int]:
        return body

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client that turns server errors into responses, like a real server."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_unknown_page_is_a_friendly_404(client: TestClient) -> None:
    """A browser gets an HTML page; an API client gets JSON."""
    page = client.get("/no/such/page", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text
    data = client.get("/no/such/page", headers=JSON)
    assert data.status_code == 404
    assert data.json()["status"] == 404
    assert client.get("/api/nothing").json()["status"] == 404


def test_wrong_method_is_405(client: TestClient) -> None:
    """A GET on a POST-only route answers 405 with a page."""
    response = client.get("/echo")
    assert response.status_code == 405
    assert "Not allowed here" in response.text


def test_server_error_never_leaks_the_traceback(client: TestClient) -> None:
    """An unexpected exception becomes a generic 500 without its message."""
    response = client.get("/boom")
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert "went wrong on our side" in response.text
    data = client.get("/boom", headers=JSON)
    assert data.status_code == 500
    assert "secret" not in data.text


def test_provider_failure_is_503(client: TestClient) -> None:
    """An email provider outage answers 503 asking to retry, not 500."""
    response = client.get("/provider", headers=JSON)
    assert response.status_code == 503
    assert "try again" in response.json()["error"]


def test_verification_error_is_403(client: TestClient) -> None:
    """A failed signature check answers 403."""
    assert client.get("/forbidden").status_code == 403


def test_validation_errors_are_422_with_fields(client: TestClient) -> None:
    """A JSON body that fails validation answers 422 naming the field, without echoing it."""
    response = client.post("/echo", json={"a": "not a number " * 10}, headers=JSON)
    assert response.status_code == 422
    body = response.json()
    assert body["fields"][0]["field"] == "a"
    assert "not a number" not in response.text


def test_security_headers_on_every_response(client: TestClient) -> None:
    """Pages and errors carry CSP, nosniff, frame denial and no-referrer."""
    for response in (client.get("/no/such/page"), client.post("/echo", json={"a": 1})):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value


def test_oversized_body_is_413(client: TestClient) -> None:
    """A body over the cap is refused before parsing, with or without Content-Length."""
    big = b"x" * (2 * 1024 * 1024 + 1)
    response = client.post("/echo", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b"x" * (1024 * 1024)

    streamed = client.post("/echo", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert client.post("/echo", content=b"{}", headers={"content-length": "abc"}).status_code in (
        400,
        413,
    )


def test_status_of_maps_the_error_tree() -> None:
    """Each UserError subclass has its HTTP status; plain ones are 400."""
    assert status_of(InvalidInputError("x")) == 400
    assert status_of(UserError("x")) == 400
    assert status_of(VerificationError("x")) == 403
