"""Built feeds kept in memory: the bytes, their gzip, validators, and the data version.

A feed's bytes depend only on the publication row, its public editions, the topic
registry, the feed's kind, format and limit, and the hub URL. The database keeps a
counter per publication that triggers raise in the same transaction as any such
change (``newsletter.feeds.models_db``), so a built feed stays good exactly as long
as the counter it was built at: one primary-key lookup per request tells.

The version is read before the feed is built: if a change commits in between, the
stored bytes are newer than their version says, and the next request (seeing the
new version) rebuilds, so nothing stale is ever served.

Each document is compressed once, when built (gzip level 9, no timestamp, so the same
bytes always give the same gzip), and the cache is bounded by the bytes it holds
(both encodings counted), not by a number of documents: a publication with 1,000
topic feeds fits as long as their bytes do.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from newsletter.feeds.catalog import Feed
from newsletter.feeds.conditional import etag_of

MAX_BYTES = 256 * 1024 * 1024
GZIP_LEVEL = 9


@dataclass(frozen=True)
class BuiltFeed:
    """One feed document in one format with its validators, ready to serve.

    ``etag`` names the identity bytes, ``gzip_etag`` the gzip ones (a strong ETag is
    per representation). ``version`` is the publication's data version it was built at.
    """

    body: bytes
    gzip_body: bytes
    etag: str
    gzip_etag: str
    last_modified: datetime
    self_url: str
    version: int = 0
    # Encoded responses by variant, filled by the web layer as it answers (not compared).
    answers: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def size(self) -> int:
        """Bytes held in memory (both encodings)."""
        return len(self.body) + len(self.gzip_body)


def compress(body: bytes) -> bytes:
    """The deterministic gzip of ``body`` (no file name, no timestamp)."""
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


def gzip_etag(etag: str) -> str:
    """The ETag of the gzip representation of the bytes whose ETag is ``etag``."""
    return etag[:-1] + '-gzip"'


def build(
    feed: Feed, fmt: str, last_modified: datetime | None = None, version: int = 0
) -> BuiltFeed:
    """Render ``feed`` in ``fmt``, compress it and compute its validators.

    ``last_modified`` defaults to the feed's own date (its newest entry); the web app
    passes the time its ETag last changed instead (``newsletter.feeds.freshness``).
    """
    body = feed.render(fmt)
    etag = etag_of(body)
    return BuiltFeed(
        body=body,
        gzip_body=compress(body),
        etag=etag,
        gzip_etag=gzip_etag(etag),
        last_modified=last_modified or feed.updated,
        self_url=feed.spec.url(fmt),
        version=version,
    )


@dataclass(frozen=True)
class FeedKey:
    """Which document: publication id, feed kind, format and hub URL."""

    publication_id: int
    kind: str
    fmt: str
    hub_url: str | None


class FeedCache:
    """A thread-safe LRU of built feeds, bounded by the bytes they hold."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[FeedKey, BuiltFeed] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many feeds are stored."""
        return len(self._items)

    @property
    def bytes(self) -> int:
        """How many bytes the stored feeds hold."""
        return self._bytes

    def get(self, key: FeedKey, version: int) -> BuiltFeed | None:
        """The feed stored under ``key`` if built at ``version`` (then most recently used)."""
        with self._lock:
            found = self._items.get(key)
            if found is None or found.version != version:
                return None
            self._items.move_to_end(key)
            return found

    def put(self, key: FeedKey, built: BuiltFeed) -> None:
        """Store ``built`` under ``key``, evicting the least recently used beyond the bound."""
        if built.size > self.max_bytes:
            return  # would evict everything and still not fit
        with self._lock:
            previous = self._items.pop(key, None)
            if previous is not None:
                self._bytes -= previous.size
            self._items[key] = built
            self._bytes += built.size
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.size
