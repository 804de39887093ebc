"""Is a built feed still current, and since when have its bytes been what they are?

``current_version`` is the one query a cached feed costs: the publication's id and
data version by slug (a primary-key join, on an autocommit connection, so no
``BEGIN``/``ROLLBACK`` round trips).

``stamp`` gives ``Last-Modified``: the time the feed's ETag last changed, kept in
``feed_documents`` so every web worker sends the same date. It moves whenever the
bytes move, channel metadata included (renaming a publication changes no entry
date, yet its feeds' bytes change, and an ``If-Modified-Since`` client must get them),
and it moves by at least one second, since HTTP dates have no finer unit: two
different documents never share a ``Last-Modified``. When changes come faster than
one a second the date can run ahead of the clock; ``newsletter.feeds.conditional``
then leaves it out until the clock catches up.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, func, insert, literal_column, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.errors import NotFoundError
from newsletter.feeds.models_db import FeedDocument, FeedVersion
from newsletter.publications.models import Publication

VERSION_QUERY = (
    select(Publication.id, func.coalesce(FeedVersion.version, literal_column("0")))
    .outerjoin(FeedVersion, FeedVersion.publication_id == Publication.id)
    .where(Publication.slug == bindparam("slug"))
)

SECOND = timedelta(seconds=1)
_ATTEMPTS = 3


def current_version(connection: Connection, slug: str) -> tuple[int, int]:
    """The publication's id and feed data version, or ``NotFoundError``."""
    row = connection.execute(VERSION_QUERY, {"slug": slug}).first()
    if row is None:
        raise NotFoundError(f"unknown publication {slug!r}")
    return int(row[0]), int(row[1])


def next_last_modified(previous: datetime | None, now: datetime) -> datetime:
    """A whole-second date at ``now`` (rounded down) and after ``previous``."""
    candidate = now.replace(microsecond=0)
    if previous is not None and candidate <= previous:
        candidate = previous.replace(microsecond=0) + SECOND
    return candidate


def stamp(
    session: Session, publication_id: int, kind: str, fmt: str, etag: str, now: datetime
) -> datetime:
    """The feed's ``Last-Modified`` for bytes with ``etag``: kept while the ETag holds,
    moved on (and recorded) when it changed. Concurrent workers agree: the first to
    record a new ETag sets the date, the others read it back."""
    key = (
        FeedDocument.publication_id == publication_id,
        FeedDocument.kind == kind,
        FeedDocument.fmt == fmt,
    )
    moment = now
    for _ in range(_ATTEMPTS):
        row = session.execute(
            select(FeedDocument.etag, FeedDocument.last_modified).where(*key)
        ).first()
        previous: datetime | None = row.last_modified if row is not None else None
        if row is not None and row.etag == etag and previous is not None:
            return previous
        moment = next_last_modified(previous, now)
        if row is None:
            try:
                with session.begin_nested():
                    session.execute(
                        insert(FeedDocument).values(
                            publication_id=publication_id,
                            kind=kind,
                            fmt=fmt,
                            etag=etag,
                            last_modified=moment,
                        )
                    )
            except IntegrityError:
                continue  # another worker recorded it first: read theirs
            return moment
        changed = session.execute(
            update(FeedDocument)
            .where(*key, FeedDocument.etag == row.etag)
            .values(etag=etag, last_modified=moment)
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            return moment
    return moment
