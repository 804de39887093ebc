"""What every batch of an edition shares, built once per process while it stays the same.

A worker sends an edition batch by batch, each batch a task of its own, so without
this every batch would read the digest (its rendered HTML and text) and build the
same ``Message`` and ``Personaliser`` again. Here they are kept per process and per
``Database`` (another database's digest 1 is another digest), keyed by everything
they are made from, read afresh on every use in one small query:

- the digest's rendered subject, HTML and text are written once, by the render
  service, together with ``rendered_at``: that instant stands for them;
- the publication's sender, reply-to, slug, base URL and tracking settings are
  compared by value, so an editor's change reaches the very next batch;
- the base URL of personal links and the token maker are the caller's.

The delivery instant is not part of it: the caller adds it to each ``Edition``.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.db import Database
from newsletter.delivery.compose import Personaliser, edition_message
from newsletter.digests.models import Digest, DigestVariant
from newsletter.digests.services import get_digest
from newsletter.errors import NotFoundError
from newsletter.providers.interfaces import Message
from newsletter.publications.models import Publication
from subscribers.tokens import Tokens

# Everything the message and the personaliser are built from (see the module's doc).
_SOURCES = (
    Digest.rendered_at,
    Digest.edition_date,
    Digest.cadence,
    Publication.from_email,
    Publication.from_name,
    Publication.reply_to,
    Publication.slug,
    Publication.base_url,
    Publication.track_opens,
    Publication.track_clicks,
)


class EditionCache:
    """The shared message and personaliser of the editions (and topic variants) a process sent.

    An edition with fifty topic variants sends them interleaved, so the cache holds
    well over that: each entry is one rendered email (about 100 KB at most).
    """

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Any, ...], tuple[Message, Personaliser]] = OrderedDict()
        self._lock = threading.Lock()

    def shared(
        self,
        session: Session,
        digest_id: int,
        *,
        base_url: str,
        tokens: Tokens,
        variant_id: int | None = None,
    ) -> tuple[Message, Personaliser]:
        """The edition's (or its topic variant's) message and personaliser, kept while unchanged.

        A variant is written once and never changes, so its id stands for its content.
        """
        row = session.execute(
            select(*_SOURCES)
            .join(Publication, Publication.id == Digest.publication_id)
            .where(Digest.id == digest_id)
        ).first()
        if row is None:
            raise NotFoundError(f"unknown digest {digest_id}")
        key = (digest_id, variant_id, base_url, *row)
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and kept[1].links.tokens is tokens:
                self._entries.move_to_end(key)
                return kept
        digest = get_digest(session, digest_id)
        variant = None
        if variant_id is not None:
            variant = session.get(DigestVariant, variant_id)
            if variant is None or variant.digest_id != digest_id:
                raise NotFoundError(f"unknown variant {variant_id} of digest {digest_id}")
        # Refuses an edition not rendered yet.
        message = edition_message(digest, variant=variant)
        personaliser = Personaliser.for_digest(
            digest, message, base_url=base_url, tokens=tokens, variant=variant
        )
        with self._lock:
            self._entries[key] = (message, personaliser)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return message, personaliser

    def clear(self) -> None:
        """Forget every kept edition."""
        with self._lock:
            self._entries.clear()


_CACHES: weakref.WeakKeyDictionary[Database, EditionCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def editions_of(database: Database) -> EditionCache:
    """This process's edition cache for ``database`` (gone with the ``Database`` object)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(database)
        if cache is None:
            cache = _CACHES[database] = EditionCache()
        return cache
