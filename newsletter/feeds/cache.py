"""Built feeds kept in memory, keyed by a cheap version of the data they come from.

Building a 50-entry feed means loading and rendering up to 50 editions; checking
whether anything changed takes one small aggregate query. A feed's bytes depend
only on the publication row, its published digests (frozen snapshots), the feed's
kind, format and limit, and the hub URL, so a key made of those (with the digests
summarised by count, newest publication time, newest row change and highest id)
names exactly one document. A hit is served as is; a miss builds, stores and serves.

The version is read before the feed is built: if an edition is published in
between, the stored bytes are newer than their key says, and the next request
(seeing the new version) misses and rebuilds, so nothing stale is ever served.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.digests.models import Digest
from newsletter.feeds.catalog import Feed
from newsletter.feeds.conditional import etag_of
from newsletter.publications.models import Publication

MAX_ENTRIES = 256
MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class BuiltFeed:
    """One feed document in one format with its validators, ready to serve."""

    body: bytes
    etag: str
    last_modified: datetime
    self_url: str


def build(feed: Feed, fmt: str) -> BuiltFeed:
    """Render ``feed`` in ``fmt`` and compute its strong ETag."""
    body = feed.render(fmt)
    return BuiltFeed(body, etag_of(body), feed.updated, feed.spec.url(fmt))


@dataclass(frozen=True)
class FeedKey:
    """Everything a feed document's bytes depend on."""

    version: tuple[Any, ...]
    kind: str
    fmt: str
    limit: int
    hub_url: str | None


def data_version(session: Session, publication: Publication) -> tuple[Any, ...]:
    """A value that changes whenever the publication or its published editions change."""
    count, newest, changed, highest = session.execute(
        select(
            func.count(Digest.id),
            func.max(Digest.published_at),
            func.max(Digest.updated_at),
            func.max(Digest.id),
        ).where(Digest.publication_id == publication.id, Digest.published_at.is_not(None))
    ).one()
    return (publication.id, publication.updated_at, count, newest, changed, highest)


class FeedCache:
    """A thread-safe LRU of built feeds, bounded by entry count and total bytes."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[FeedKey, BuiltFeed] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many feeds are stored."""
        return len(self._items)

    def get(self, key: FeedKey) -> BuiltFeed | None:
        """The feed stored under ``key`` (now the most recently used), or None."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: FeedKey, built: BuiltFeed) -> None:
        """Store ``built`` under ``key``, evicting the least recently used beyond the bounds."""
        if len(built.body) > self.max_bytes:
            return  # would evict everything and still not fit
        with self._lock:
            previous = self._items.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous.body)
            self._items[key] = built
            self._bytes += len(built.body)
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= len(evicted.body)
