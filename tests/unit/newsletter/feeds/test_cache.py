"""The feed cache: built feeds with their gzip, valid for one data version, bounded by bytes."""

from __future__ import annotations

import gzip

from newsletter.feeds.cache import BuiltFeed, FeedCache, FeedKey, build, compress, gzip_etag
from newsletter.feeds.catalog import Source, feed_for
from newsletter.feeds.conditional import etag_of
from tests.unit.newsletter.feeds.conftest import PUBLISHED_AT


def _key(n: int) -> FeedKey:
    return FeedKey(1, f"topics/t{n}", "rss", None)


def _built(size: int, version: int = 1) -> BuiltFeed:
    body = b"x" * size
    return BuiltFeed(
        body, b"", etag_of(body), gzip_etag(etag_of(body)), PUBLISHED_AT, "https://e/", version
    )


def test_build_holds_the_rendered_bytes_their_gzip_and_validators(source: Source) -> None:
    """A built feed is the feed's rendering, its deterministic gzip (which decompresses to
    the same bytes), a strong ETag for each representation, its date and self URL."""
    feed = feed_for(source, "briefings")
    built = build(feed, "json")
    assert built.body == feed.render("json")
    assert gzip.decompress(built.gzip_body) == built.body
    assert built.gzip_body == compress(built.body) == build(feed, "json").gzip_body
    assert len(built.gzip_body) < len(built.body)
    assert built.etag == etag_of(built.body)
    assert built.gzip_etag == built.etag[:-1] + '-gzip"' != built.etag
    assert built.last_modified == feed.updated
    assert built.self_url == feed.spec.url("json")
    assert built.size == len(built.body) + len(built.gzip_body)


def test_a_feed_built_at_another_version_is_a_miss() -> None:
    """A stored feed is served only for the data version it was built at."""
    cache = FeedCache()
    cache.put(_key(1), _built(3, version=7))
    assert cache.get(_key(1), 7) is not None
    assert cache.get(_key(1), 8) is None
    assert cache.get(_key(2), 7) is None


def test_least_recently_used_goes_first_past_the_byte_bound() -> None:
    """Past ``max_bytes`` the least recently used feed is dropped; a hit refreshes it."""
    cache = FeedCache(max_bytes=9)
    cache.put(_key(1), _built(3))
    cache.put(_key(2), _built(3))
    assert cache.get(_key(1), 1) is not None  # 1 is now the most recently used
    cache.put(_key(3), _built(4))
    assert cache.get(_key(2), 1) is None
    assert cache.get(_key(1), 1) is not None
    assert cache.get(_key(3), 1) is not None
    assert (len(cache), cache.bytes) == (2, 7)


def test_many_small_feeds_fit_where_few_large_ones_do() -> None:
    """The bound is bytes, not a count: 1,000 small topic feeds stay together."""
    cache = FeedCache(max_bytes=100_000)
    for n in range(1000):
        cache.put(_key(n), _built(90))
    assert len(cache) == 1000
    assert all(cache.get(_key(n), 1) is not None for n in range(1000))


def test_total_bytes_stay_within_the_byte_bound() -> None:
    """Feeds are dropped until the stored bytes fit; a feed larger than the bound is not kept;
    replacing a key counts its bytes once."""
    cache = FeedCache(max_bytes=10)
    cache.put(_key(1), _built(4))
    cache.put(_key(1), _built(6))  # replaced, not added: 6 bytes stored
    cache.put(_key(2), _built(4))
    assert len(cache) == 2
    cache.put(_key(3), _built(5))  # 15 bytes: the oldest (key 1) goes
    assert cache.get(_key(1), 1) is None
    assert len(cache) == 2
    cache.put(_key(4), _built(11))
    assert cache.get(_key(4), 1) is None
    assert len(cache) == 2
