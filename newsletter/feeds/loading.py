"""Load only what one feed shows: a cost that stays flat as the archive and topics grow.

``services.source_for`` loads every published edition (what an export of all feeds
needs). A web request wants one feed, so this loads just enough:

- briefings and editions feeds: the newest editions, a page at a time, until the
  feed is full (``limit`` live briefings, or ``limit`` editions);
- a topic feed: the editions whose briefings carry the topic, from a ``TopicIndex``
  (topic slug → published edition ids, newest first), a page at a time likewise.

The topic index comes from the published items' topic lists (the JSON of the frozen
snapshot, read in the database: ``content -> 'topics'``). A feed server keeps each
edition's topic names and, when the publication's data version moves, reads the
items of new or changed editions only (``read_topic_names``); the index is then
regrouped in memory once per version and shared by every topic feed, so neither a
publication nor a sweep of 1,000 topic feeds reads the whole archive's items. Topic membership is
the snapshot's; the entries themselves come from the public editions (corrected
text, statuses), and an entry whose correction dropped the topic is left out.

Weekly roundups are loaded for the editions feed only: the briefings and topic feeds
take their briefings from daily editions (``entries._items``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter.briefings.models import Briefing, BriefingRevision
from newsletter.content.edition import Cadence, Edition
from newsletter.digests.models import Digest, DigestItem
from newsletter.digests.public import public_editions
from newsletter.feeds.catalog import Feed, Source, feed_for
from newsletter.feeds.entries import slug_of, topic_slug
from newsletter.feeds.models import (
    DEFAULT_LIMIT,
    KIND_BRIEFINGS,
    KIND_EDITIONS,
    TOPIC_KIND_PREFIX,
)
from newsletter.publications.models import Publication
from newsletter.publications.services import publication_info
from newsletter.publications.topics import name_key, topic_slugs

_NEWEST = (Digest.published_at.desc(), Digest.edition_date.desc(), Digest.id.desc())
_CHUNK = 500


@dataclass(frozen=True)
class TopicIndex:
    """Which published editions carry each topic: slug → edition ids, newest first."""

    editions: Mapping[str, tuple[int, ...]]

    def of(self, slug: str) -> tuple[int, ...]:
        """The ids of the editions with a briefing on topic ``slug`` (empty if none)."""
        return self.editions.get(slug, ())


@dataclass(frozen=True)
class EditionTopics:
    """One published edition's place in the archive and the topic names of its items."""

    published_at: datetime
    edition_date: date
    updated_at: datetime
    names: tuple[str, ...]

    def order(self, digest_id: int) -> tuple[datetime, date, int]:
        """Its sort key: newest first is the reverse of this."""
        return (self.published_at, self.edition_date, digest_id)


def read_topic_names(
    session: Session,
    publication: Publication,
    known: Mapping[int, EditionTopics] | None = None,
) -> dict[int, EditionTopics]:
    """Every published edition's topic names, reading the items of new or changed ones only.

    One small query lists the published editions (id, dates, ``updated_at``); the
    items' topic lists (the JSON of the snapshot, extracted by the database) are read
    only for editions not in ``known`` or changed since (a re-rendered web copy moves
    ``updated_at``). So after a publication the work is one edition's items, not the
    archive's.
    """
    known = known or {}
    rows = session.execute(
        select(Digest.id, Digest.published_at, Digest.edition_date, Digest.updated_at).where(
            Digest.publication_id == publication.id,
            Digest.published_at.is_not(None),
            Digest.cadence == Cadence.DAILY,
        )
    ).all()
    out: dict[int, EditionTopics] = {}
    stale: dict[int, tuple[datetime, date, datetime]] = {}
    for digest_id, published_at, edition_date, updated_at in rows:
        if published_at is None:  # excluded by the query; narrows the type
            continue
        kept = known.get(digest_id)
        if kept is not None and kept.updated_at == updated_at:
            out[digest_id] = kept
        else:
            stale[digest_id] = (published_at, edition_date, updated_at)
    names: dict[int, list[str]] = {digest_id: [] for digest_id in stale}
    ids = sorted(stale)
    for start in range(0, len(ids), _CHUNK):
        items = session.execute(
            select(DigestItem.digest_id, DigestItem.content["topics"])
            .where(DigestItem.digest_id.in_(ids[start : start + _CHUNK]))
            .order_by(DigestItem.digest_id, DigestItem.position)
        )
        for digest_id, topics in items:
            for topic in topics or ():
                name = str(topic.get("name", "")) if isinstance(topic, dict) else ""
                if name.strip():
                    names[digest_id].append(name)
        # A correction may give a briefing topics its snapshot lacks: its corrected
        # text (the approved revision, newer than the one frozen) counts too.
        corrected = session.execute(
            select(DigestItem.digest_id, BriefingRevision.content["topics"])
            .join(Briefing, Briefing.id == DigestItem.briefing_id)
            .join(
                BriefingRevision,
                (BriefingRevision.briefing_id == Briefing.id)
                & (BriefingRevision.number == Briefing.approved_revision),
            )
            .where(
                DigestItem.digest_id.in_(ids[start : start + _CHUNK]),
                BriefingRevision.number > DigestItem.revision,
            )
        )
        for digest_id, topics in corrected:
            for topic in topics or ():
                name = str(topic.get("name", "")) if isinstance(topic, dict) else ""
                if name.strip():
                    names[digest_id].append(name)
    for digest_id, (published_at, edition_date, updated_at) in stale.items():
        out[digest_id] = EditionTopics(
            published_at, edition_date, updated_at, tuple(dict.fromkeys(names[digest_id]))
        )
    return out


def topic_index(editions: Mapping[int, EditionTopics], registry: Mapping[str, str]) -> TopicIndex:
    """Group editions by the registry's slugs of their topic names, newest first."""
    keyed = {name_key(name): slug for name, slug in registry.items()}
    found: dict[str, list[int]] = {}
    newest_first = sorted(editions, key=lambda d: editions[d].order(d), reverse=True)
    for digest_id in newest_first:
        slugs = {keyed.get(name_key(n)) or topic_slug(n) for n in editions[digest_id].names}
        for slug in slugs:
            found.setdefault(slug, []).append(digest_id)
    return TopicIndex({slug: tuple(ids) for slug, ids in found.items()})


def build_topic_index(
    session: Session, publication: Publication, registry: Mapping[str, str]
) -> TopicIndex:
    """The publication's topic index, read from scratch."""
    return topic_index(read_topic_names(session, publication), registry)


def _pages(
    session: Session,
    publication: Publication,
    ids: Sequence[int] | None,
    size: int,
    *,
    daily_only: bool,
) -> Iterator[list[Edition]]:
    """Published editions newest first, ``size`` at a time (only ``ids`` when given;
    only daily editions when ``daily_only``)."""
    base = (
        select(Digest)
        .where(Digest.publication_id == publication.id, Digest.published_at.is_not(None))
        .options(selectinload(Digest.items))
        .order_by(*_NEWEST)
    )
    if daily_only:
        base = base.where(Digest.cadence == Cadence.DAILY)
    if ids is not None:
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            digests = session.scalars(base.where(Digest.id.in_(chunk))).all()
            yield public_editions(session, digests)
        return
    offset = 0
    while True:
        digests = session.scalars(base.offset(offset).limit(size)).all()
        if not digests:
            return
        yield public_editions(session, digests)
        offset += size


def _enough(
    session: Session,
    publication: Publication,
    ids: Sequence[int] | None,
    limit: int,
    *,
    count_briefings: bool,
    topic: str | None = None,
) -> tuple[Edition, ...]:
    """Pages of editions until the feed is full: ``limit`` editions, or ``limit`` live
    briefings (on ``topic`` when given)."""
    loaded: list[Edition] = []
    for page in _pages(session, publication, ids, limit, daily_only=count_briefings):
        loaded.extend(page)
        filled = _live(loaded, topic) if count_briefings else len(loaded)
        if filled >= limit:
            break
    return tuple(loaded)


def _live(editions: Sequence[Edition], slug: str | None) -> int:
    """How many live briefings the editions hold (on topic ``slug`` when given)."""
    return sum(
        1
        for edition in editions
        for item in edition.items
        if item.is_live
        and (slug is None or any(slug_of(edition, n) == slug for n in item.content.topic_names))
    )


def load_feed(
    session: Session,
    publication: Publication,
    kind: str,
    *,
    hub_url: str | None = None,
    limit: int = DEFAULT_LIMIT,
    index: Callable[[Mapping[str, str]], TopicIndex] | None = None,
) -> Feed:
    """The feed ``kind`` of a publication, loading only the editions it shows.

    ``index`` returns the publication's topic index for a registry (a cache may keep
    it per data version); without one, it is built for this call.
    """
    registry = topic_slugs(session, publication)
    editions: tuple[Edition, ...] = ()
    if kind == KIND_BRIEFINGS:
        editions = _enough(session, publication, None, limit, count_briefings=True)
    elif kind == KIND_EDITIONS:
        editions = _enough(session, publication, None, limit, count_briefings=False)
    elif kind.startswith(TOPIC_KIND_PREFIX):
        slug = kind.removeprefix(TOPIC_KIND_PREFIX)
        topics = index(registry) if index else build_topic_index(session, publication, registry)
        ids = topics.of(slug)
        editions = _enough(session, publication, ids, limit, count_briefings=True, topic=slug)
    source = Source(
        publication=publication_info(publication),
        editions=editions,
        created_at=publication.created_at,
        hub_url=hub_url or None,
        scoped_topics=tuple(publication.topics),
        limit=limit,
        topic_slugs=tuple(registry.items()),
    )
    return feed_for(source, kind)
