"""The feed cache: built feeds keyed by their data version, bounded by count and bytes."""

from __future__ import annotations

from newsletter.feeds.cache import BuiltFeed, FeedCache, FeedKey, build
from newsletter.feeds.catalog import Source, feed_for
from newsletter.feeds.conditional import etag_of
from tests.unit.newsletter.feeds.conftest import PUBLISHED_AT


def _key(n: int) -> FeedKey:
    return FeedKey((1, n), "briefings", "rss", 50, None)


def _built(size: int) -> BuiltFeed:
    body = b"x" * size
    return BuiltFeed(body, etag_of(body), PUBLISHED_AT, "https://example.org/feed")


def test_build_holds_the_rendered_bytes_and_validators(source: Source) -> None:
    """A built feed is the feed's rendering with its strong ETag, date and self URL."""
    feed = feed_for(source, "briefings")
    built = build(feed, "json")
    assert built.body == feed.render("json")
    assert built.etag == etag_of(built.body)
    assert built.last_modified == feed.updated
    assert built.self_url == feed.spec.url("json")


def test_least_recently_used_goes_first_past_the_entry_bound() -> None:
    """Past ``max_entries`` the least recently used feed is dropped; a hit refreshes it."""
    cache = FeedCache(max_entries=2)
    cache.put(_key(1), _built(1))
    cache.put(_key(2), _built(2))
    assert cache.get(_key(1)) is not None  # 1 is now the most recently used
    cache.put(_key(3), _built(3))
    assert cache.get(_key(2)) is None
    assert cache.get(_key(1)) is not None
    assert cache.get(_key(3)) is not None
    assert len(cache) == 2


def test_total_bytes_stay_within_the_byte_bound() -> None:
    """Feeds are dropped until the stored bytes fit; a feed larger than the bound is not kept;
    replacing a key counts its bytes once."""
    cache = FeedCache(max_bytes=10)
    cache.put(_key(1), _built(4))
    cache.put(_key(1), _built(6))  # replaced, not added: 6 bytes stored
    cache.put(_key(2), _built(4))
    assert len(cache) == 2
    cache.put(_key(3), _built(5))  # 15 bytes: the oldest (key 1) goes
    assert cache.get(_key(1)) is None
    assert len(cache) == 2
    cache.put(_key(4), _built(11))
    assert cache.get(_key(4)) is None
    assert len(cache) == 2
