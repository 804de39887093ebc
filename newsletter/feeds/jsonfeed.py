"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1), written by hand: it is plain JSON.

Keys are written in a fixed order with fixed formatting, so the same entries always
give the same bytes. Dates are RFC 3339 in UTC.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from newsletter.feeds.models import FeedEntry, FeedSpec

VERSION = "https://jsonfeed.org/version/1.1"


def _date(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _item(spec: FeedSpec, entry: FeedEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.id,
        "url": entry.url,
        "title": entry.title,
        "content_html": entry.content_html,
        "summary": entry.summary,
        "date_published": _date(entry.published),
        "date_modified": _date(entry.updated),
        "authors": [{"name": spec.author, "url": spec.home_url}],
        "language": spec.language,
    }
    if entry.external_url:
        item["external_url"] = entry.external_url
    if entry.categories:
        item["tags"] = list(entry.categories)
    return item


def build_json_feed(spec: FeedSpec, entries: Sequence[FeedEntry]) -> bytes:
    """A JSON Feed 1.1 document (UTF-8 bytes) of ``entries`` in the order given."""
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": spec.title,
        "home_page_url": spec.home_url,
        "feed_url": spec.url("json"),
        "description": spec.description or spec.title,
        "authors": [{"name": spec.author, "url": spec.home_url}],
        "language": spec.language,
    }
    if spec.icon_url:
        feed["icon"] = spec.icon_url
        feed["favicon"] = spec.icon_url
    if spec.hub_url:
        feed["hubs"] = [{"type": "WebSub", "url": spec.hub_url}]
    feed["items"] = [_item(spec, entry) for entry in entries]
    # ensure_ascii=False keeps é, ß and 東京 readable; JSON escaping still protects quotes.
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
