"""Feed value model: URLs, dates of empty and full feeds, aware timestamps only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsletter.feeds.models import FeedEntry, FeedSpec, topic_kind


def _spec(**overrides: object) -> FeedSpec:
    values: dict[str, object] = {
        "base_url": "https://news.example.org",
        "publication": "morning",
        "kind": "briefings",
        "title": "Morning",
        "description": "",
        "home_url": "https://news.example.org/p/morning/",
        "author": "Morning",
        "language": "en",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    values.update(overrides)
    return FeedSpec(**values)  # type: ignore[arg-type]


def _entry(at: datetime) -> FeedEntry:
    return FeedEntry(
        id="x", url="x", title="t", content_html="<p>c</p>", summary="s", published=at, updated=at
    )


def test_url_follows_the_public_url_scheme() -> None:
    """A feed's own URL is ``/p/<publication>/feeds/<kind>/<file>`` for each format."""
    spec = _spec(kind=topic_kind("climate"))
    assert spec.url("rss") == "https://news.example.org/p/morning/feeds/topics/climate/rss.xml"
    assert spec.url("atom").endswith("/feeds/topics/climate/atom.xml")
    assert spec.url("json").endswith("/feeds/topics/climate/feed.json")


def test_updated_is_the_newest_entry_or_the_creation_date() -> None:
    """A feed's date is its newest entry's, and the publication's creation when empty."""
    spec = _spec()
    old, new = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    assert spec.updated([_entry(old), _entry(new)]) == new
    assert spec.updated([]) == datetime(2026, 1, 1, tzinfo=UTC)


def test_naive_timestamps_are_refused() -> None:
    """Entries and specs take only timezone-aware datetimes, naming the field."""
    with pytest.raises(ValueError, match="published must be timezone-aware"):
        _entry(datetime(2026, 1, 1))  # noqa: DTZ001 - the naive time refused
    with pytest.raises(ValueError, match="created_at must be timezone-aware"):
        _spec(created_at=datetime(2026, 1, 1))  # noqa: DTZ001 - the naive time refused
