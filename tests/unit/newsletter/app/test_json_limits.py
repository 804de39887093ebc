"""JSON bodies keep to one depth and size limit on every route, before any view parses them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.limits import json_depth, json_too_deep, looks_like_json
from newsletter.sendgrid_testserver.events import public_key_b64
from newsletter.settings import EmailBackend, Settings
from newsletter.web.middleware import BodyLimit
from tests.unit.newsletter.delivery.test_views import KEY, post, posts

NESTED = b"[" * 50_000
JSON_ROUTES = ("/api/subscribe", "/api/briefings", "/api/lists", "/webhooks/sendgrid")


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    """The whole app, trusting the webhook test key, with a small JSON size limit."""
    settings = Settings(
        data_dir=data_dir,
        email_backend=EmailBackend.MEMORY,
        sendgrid_webhook_public_key=public_key_b64(KEY),
        max_json_bytes=64 * 1024,
        max_json_depth=8,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_deep_json_is_a_400_on_every_route(
    client: TestClient, path: str, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    """50,000 nested arrays: a 400 naming the limit, whatever the declared type; no traceback."""
    with caplog.at_level(logging.DEBUG):
        answer = client.post(path, content=NESTED, headers={"content-type": content_type})
    assert answer.status_code == 400
    assert answer.json()["error"] == (
        "body: JSON nested 50000 levels deep; at most 8 levels are accepted."
    )
    assert not [record for record in caplog.records if record.exc_info]
    assert "Traceback" not in caplog.text


def test_a_signed_deep_webhook_post_is_refused_and_not_stored(client: TestClient) -> None:
    """A validly signed body of nested arrays is refused like any other, and nothing is stored."""
    answer = post(client, NESTED)
    assert answer.status_code == 400
    assert "nested" in answer.json()["error"]
    assert posts(client) == 0


def test_json_at_the_depth_limit_reaches_the_view(client: TestClient) -> None:
    """Eight levels pass the middleware: the view answers (here with its own 422)."""
    answer = client.post("/api/subscribe", json={"email": [[[[[[["x"]]]]]]]})
    assert answer.status_code == 422


def test_a_json_body_over_the_json_size_limit_is_413(client: TestClient) -> None:
    """The JSON limit is smaller than the general body cap and applies to JSON only."""
    big = b'{"email": "' + b"a" * 70_000 + b'"}'
    answer = client.post(
        "/api/subscribe", content=big, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == "The JSON request body is larger than 65536 bytes."
    form = client.post(
        "/subscribe",
        content=b"name=" + b"a" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code != 413


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"3", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["[[[[", "\\"[[[", {"k]": "}}"}]', 2),
        (b"[" * 100, 100),
    ],
)
def test_depth_skips_strings(raw: bytes, depth: int) -> None:
    """Brackets inside strings, escaped quotes included, never count."""
    assert json_depth(raw) == depth


def test_too_deep_reads_text_and_bytes() -> None:
    assert json_too_deep("[[[]]]", 3) is None
    assert (
        json_too_deep(b"[[[[]]]]", 3) == "JSON nested 4 levels deep; at most 3 levels are accepted"
    )


def test_what_counts_as_json() -> None:
    assert looks_like_json("application/merge-patch+json", b"")
    assert looks_like_json("", b"  \n[1]")
    assert not looks_like_json("application/x-www-form-urlencoded", b"a=%5B")


def test_the_default_limits_are_the_settings_defaults(data_dir: Path) -> None:
    """Settings and the middleware agree on the defaults (one place declares them)."""
    settings = Settings(data_dir=data_dir)
    assert settings.limits == BodyLimit(lambda *_: None, max_bytes=1).limits  # type: ignore[arg-type]


@pytest.mark.parametrize("accept", [None, "*/*"])
def test_webhook_errors_are_json_unless_html_is_asked_for(
    client: TestClient, accept: str | None
) -> None:
    """A program posting to the webhook without ``Accept`` gets a JSON refusal, not a page."""
    headers = {"content-type": "application/json"} | ({"accept": accept} if accept else {})
    answer = client.post("/webhooks/sendgrid", content=b"[]", headers=headers)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["status"] == 403
    page = client.post(
        "/webhooks/sendgrid", content=b"[]", headers={**headers, "accept": "text/html"}
    )
    assert page.headers["content-type"].startswith("text/html")


def test_a_json_sign_up_without_accept_gets_json(client: TestClient) -> None:
    """``/api/subscribe`` is outside ``/api/``'s routers but answers its refusals as JSON."""
    answer = client.post(
        "/api/subscribe", content=b"{", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["status"] == 400
