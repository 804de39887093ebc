"""Load what feeds are built from: a publication's published editions, from the database.

An edition is public once it is published on the web or its email starts going out:
the digest's ``published_at`` is set then, once, and never changes, so entries keep
their date while the send progresses (and even if it later fails). Anything never
published (assembled, rendered, skipped, missed, cancelled) gives no entry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter.content.edition import Edition
from newsletter.digests.models import Digest
from newsletter.digests.public import public_editions
from newsletter.feeds.catalog import Source
from newsletter.feeds.models import DEFAULT_LIMIT
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication, publication_info
from newsletter.publications.topics import topic_slugs


def published_at(digest: Digest) -> datetime | None:
    """When the edition became public, or None while it is not."""
    return digest.published_at


def published_editions(
    session: Session, publication: Publication, *, limit: int | None = None
) -> list[Edition]:
    """The public view of the publication's published editions, newest edition date first.

    Corrected briefings show their corrected text, withdrawn, expired and taken-down
    ones their status (``newsletter.digests.public``).
    """
    query = (
        select(Digest)
        .where(Digest.publication_id == publication.id, Digest.published_at.is_not(None))
        .order_by(Digest.edition_date.desc())
        .options(selectinload(Digest.items))
    )
    if limit is not None:
        query = query.limit(limit)
    return public_editions(session, list(session.scalars(query)))


def load_source(
    session: Session,
    slug: str,
    *,
    hub_url: str | None = None,
    limit: int = DEFAULT_LIMIT,
    every_edition: bool = True,
) -> Source:
    """Everything a publication's feeds are built from; unknown slug: ``NotFoundError``."""
    publication = get_publication(session, slug)
    return source_for(
        session, publication, hub_url=hub_url, limit=limit, every_edition=every_edition
    )


def source_for(
    session: Session,
    publication: Publication,
    *,
    hub_url: str | None = None,
    limit: int = DEFAULT_LIMIT,
    every_edition: bool = True,
) -> Source:
    """Everything the feeds of a loaded publication row are built from.

    ``every_edition=False`` loads only the latest ``limit`` editions: enough for the
    briefings and editions feeds (every edition holds at least one briefing), not
    for topic feeds, whose briefings may be spread over many more editions.
    """
    editions = published_editions(session, publication, limit=None if every_edition else limit)
    return Source(
        publication=publication_info(publication),
        editions=tuple(editions),
        created_at=publication.created_at,
        hub_url=hub_url or None,
        scoped_topics=tuple(publication.topics),
        limit=limit,
        topic_slugs=tuple(topic_slugs(session, publication).items()),
    )
