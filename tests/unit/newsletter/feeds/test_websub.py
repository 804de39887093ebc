"""WebSub publish pings: the form sent, and how hub failures are classified."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest

from newsletter.errors import ConfigError, InvalidInputError, PermanentError, RetryableError
from newsletter.feeds.websub import TIMEOUT_SECONDS, feed_urls, ping_hub
from newsletter.settings import load_settings
from tests.fixtures.editions import sample_edition

HUB = "https://hub.example.net/"
FEEDS = ["https://news.example.org/p/m/feeds/briefings/rss.xml", "https://n.example/x.json"]


def _client(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(transport=handler)


def test_ping_posts_mode_and_every_url_form_encoded() -> None:
    """The ping is a form POST of hub.mode=publish and one hub.url per feed, with a timeout."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    assert ping_hub(HUB, FEEDS, _client(httpx.MockTransport(handler))) == 204
    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == HUB
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qsl(request.content.decode())
    assert form == [("hub.mode", "publish"), ("hub.url", FEEDS[0]), ("hub.url", FEEDS[1])]
    assert request.extensions["timeout"]["read"] == TIMEOUT_SECONDS


@pytest.mark.parametrize(("status", "retry_after"), [(429, 30.0), (503, None)])
def test_rate_limits_and_server_errors_are_retryable(
    status: int, retry_after: float | None
) -> None:
    """429 and 5xx answers raise RetryableError, keeping Retry-After seconds."""
    headers = {"Retry-After": "30"} if retry_after else {}
    transport = httpx.MockTransport(lambda _: httpx.Response(status, headers=headers))
    with pytest.raises(RetryableError, match=f"answered {status}") as caught:
        ping_hub(HUB, FEEDS, _client(transport))
    assert caught.value.retry_after == retry_after


def test_other_refusals_are_permanent() -> None:
    """A 4xx other than 429 raises PermanentError naming the hub and status."""
    transport = httpx.MockTransport(lambda _: httpx.Response(400, text="bad topic"))
    with pytest.raises(PermanentError, match=r"hub.example.net/ answered 400: bad topic"):
        ping_hub(HUB, FEEDS, _client(transport))


@pytest.mark.parametrize(
    ("error", "message"),
    [(httpx.ReadTimeout("slow"), "timed out"), (httpx.ConnectError("refused"), "unreachable")],
)
def test_timeouts_and_connection_errors_are_retryable(error: Exception, message: str) -> None:
    """A timeout or a failed connection raises RetryableError."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(RetryableError, match=message):
        ping_hub(HUB, FEEDS, _client(httpx.MockTransport(handler)))


def test_bad_arguments_are_refused_before_any_request() -> None:
    """A non-http hub URL or an empty feed list is refused, naming the problem."""
    transport = httpx.MockTransport(lambda _: pytest.fail("no request expected"))
    with pytest.raises(InvalidInputError, match="must be http"):
        ping_hub("ftp://hub", FEEDS, _client(transport))
    with pytest.raises(InvalidInputError, match="at least one feed URL"):
        ping_hub(HUB, [], _client(transport))


def test_feed_urls_cover_every_feed_an_edition_changes() -> None:
    """An edition changes the briefings, editions and its topics' feeds, in all formats."""
    found = feed_urls(sample_edition())
    base = "https://news.example.org/p/morning-brief/feeds"
    assert found[:3] == [
        f"{base}/briefings/rss.xml",
        f"{base}/briefings/atom.xml",
        f"{base}/briefings/feed.json",
    ]
    kinds = sorted({url.removeprefix(base + "/").rsplit("/", 1)[0] for url in found})
    assert kinds == sorted(
        ["briefings", "editions"]
        + [
            f"topics/{s}"
            for s in (
                "climate",
                "edinburgh",
                "portugal",
                "public-transport",
                "semiconductors",
                "spain",
            )
        ]
    )
    assert len(found) == 8 * 3


@pytest.mark.parametrize(
    "value", ["ftp://hub.example.net/", "hub.example.net", "http://", " https://hub.example.net/"]
)
def test_hub_setting_must_be_empty_or_an_http_url(value: str) -> None:
    """NEWSLETTER_WEBSUB_HUB_URL is refused at start-up unless empty or an http(s) URL."""
    with pytest.raises(ConfigError, match="NEWSLETTER_WEBSUB_HUB_URL: must be empty or an http"):
        load_settings(websub_hub_url=value)


@pytest.mark.parametrize("value", ["", "https://hub.example.net/", "http://127.0.0.1:9000/hub"])
def test_hub_setting_accepts_empty_or_http_urls(value: str) -> None:
    """An empty hub setting (no hub) and http(s) hub URLs are kept as given."""
    assert load_settings(websub_hub_url=value).websub_hub_url == value
