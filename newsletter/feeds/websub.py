"""WebSub (W3C recommendation): tell the hub that feeds changed, so readers get pushes.

A publisher "ping" is a form-encoded POST of ``hub.mode=publish`` and one
``hub.url`` per changed feed. Hubs answer 2xx when they accept it. Failures map to
the project's error tree: timeouts, connection errors, 429 and 5xx are retryable,
any other status is permanent.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from newsletter import urls
from newsletter.content.edition import Edition
from newsletter.errors import InvalidInputError, PermanentError, RetryableError
from newsletter.feeds.entries import slug_of
from newsletter.feeds.models import KIND_BRIEFINGS, KIND_EDITIONS, topic_kind

TIMEOUT_SECONDS = 10.0


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


def feed_urls(edition: Edition) -> list[str]:
    """Every feed URL a newly published edition changes (the hub's ``hub.url`` values).

    The briefings and editions feeds and the feed of each topic in the edition (by
    its registered slug), in each format. Topics of every item count, live or not: a
    withdrawal changes the topic feeds it leaves.
    """
    pub = edition.publication
    topics = {slug_of(edition, name) for item in edition.items for name in item.content.topic_names}
    kinds = [KIND_BRIEFINGS, KIND_EDITIONS, *(topic_kind(slug) for slug in sorted(topics))]
    return [
        urls.feed(pub.base_url, pub.slug, kind, fmt) for kind in kinds for fmt in urls.FEED_FORMATS
    ]


def ping_hub(hub_url: str, topic_urls: Sequence[str], client: httpx.Client) -> int:
    """Announce ``topic_urls`` to the hub; returns the hub's status, or raises a ProviderError."""
    if not hub_url.startswith(("https://", "http://")):
        raise InvalidInputError(f"WebSub hub URL must be http(s), got {hub_url!r}")
    if not topic_urls:
        raise InvalidInputError("a WebSub ping needs at least one feed URL (hub.url)")
    # httpx writes a list value as the key repeated: hub.url=...&hub.url=...
    form = {"hub.mode": "publish", "hub.url": list(topic_urls)}
    try:
        response = client.post(hub_url, data=form, timeout=TIMEOUT_SECONDS)
    except httpx.TimeoutException as exc:
        raise RetryableError(f"WebSub hub {hub_url} timed out: {exc}") from exc
    except httpx.TransportError as exc:
        raise RetryableError(f"WebSub hub {hub_url} unreachable: {exc}") from exc
    status = response.status_code
    if 200 <= status < 300:
        return status
    detail = f"WebSub hub {hub_url} answered {status}: {response.text[:200]}"
    if status == 429 or status >= 500:
        raise RetryableError(detail, retry_after=_retry_after(response))
    raise PermanentError(detail)
