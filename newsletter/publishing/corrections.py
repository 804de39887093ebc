"""Corrections, withdrawals, takedowns and expiries of briefings readers have seen.

Each function changes the briefing (``newsletter.briefings.services``), re-renders the
stored web page of every published edition that carried it
(``newsletter.digests.public.refresh_web_copies``), and records a pending public
change per publication (``newsletter.publishing.changes.record``) in the caller's
transaction. The caller commits, then flushes the changes (static export, WebSub
hub); a change that cannot be flushed now is retried by the tick.

- Approving a changed revision of a briefing that was published is a **correction**:
  a correction note is required, and shown, dated, wherever the briefing appears.
- **Withdrawing** a published briefing replaces its text with a notice on pages and
  takes it out of feeds and every later edition.
- A **takedown** (a legal request; publishers and admins, checked by the caller)
  removes its text from everything served or exported, for good.
- An **expiry** (its ``Expires:`` time passed) acts like a withdrawal, automatically.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import urls
from newsletter.briefings import services
from newsletter.briefings.models import Briefing
from newsletter.db import utcnow
from newsletter.digests.models import Digest, DigestItem
from newsletter.digests.public import refresh_web_copies
from newsletter.errors import InvalidInputError
from newsletter.publications.models import Publication
from newsletter.publications.topics import assign_topic_slugs, name_key, topic_slugs
from newsletter.publishing.changes import record

FEED_KINDS = ("briefings", "editions")


@dataclass(frozen=True)
class PublicChanges:
    """What a decision made public: the publications whose copies changed, and their changes."""

    publications: tuple[str, ...] = ()
    change_ids: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.publications)


@dataclass(frozen=True)
class Appearance:
    """A published edition that carried the briefing."""

    publication: str
    edition_date: date


def appearances(session: Session, briefing: Briefing) -> list[Appearance]:
    """Where the briefing was published: (publication, edition date), oldest first."""
    rows = session.execute(
        select(Publication.slug, Digest.edition_date)
        .join(Digest, Digest.publication_id == Publication.id)
        .join(DigestItem, DigestItem.digest_id == Digest.id)
        .where(DigestItem.briefing_id == briefing.id, Digest.published_at.is_not(None))
        .order_by(Digest.published_at, Digest.id)
    )
    return [Appearance(slug, day) for slug, day in rows]


def is_published(session: Session, briefing: Briefing) -> bool:
    """Whether any published edition carried the briefing (its changes are then public)."""
    return bool(appearances(session, briefing))


def _where(found: list[Appearance]) -> str:
    first = found[0]
    more = f" and {len(found) - 1} more" if len(found) > 1 else ""
    return f"{first.publication} {first.edition_date.isoformat()}{more}"


def approve_briefing(
    session: Session,
    briefing: Briefing,
    editor: str,
    *,
    comment: str = "",
    correction_note: str | None = None,
    confirm_title: bool = False,
) -> PublicChanges:
    """Approve the latest revision; for a published briefing, as a correction with its note."""
    services.check_not_taken_down(briefing)
    found = appearances(session, briefing)
    note = (correction_note or "").strip() or None
    if found and note is None:
        raise InvalidInputError(
            f"note: briefing {briefing.slug!r} was published ({_where(found)}): approving "
            "it again is a correction, and readers see a correction note; write one"
        )
    if not found and note is not None:
        raise InvalidInputError(
            f"note: briefing {briefing.slug!r} was never published: there is nothing to correct"
        )
    old_topics = _topics_now(session, briefing)
    services.approve(
        session,
        briefing,
        editor,
        comment,
        confirm_title=confirm_title,
        correction_note=note,
    )
    if not found:
        return PublicChanges()
    topics = old_topics | _topics_now(session, briefing)
    return _publish(session, briefing, found, topics, f"correction of {briefing.slug}")


def withdraw_briefing(
    session: Session, briefing: Briefing, editor: str, *, comment: str = ""
) -> PublicChanges:
    """Withdraw a briefing; a published one is replaced by a notice on pages and leaves feeds."""
    found = appearances(session, briefing)
    topics = _topics_now(session, briefing)
    services.withdraw(session, briefing, editor, comment, public=bool(found))
    if not found:
        return PublicChanges()
    return _publish(session, briefing, found, topics, f"withdrawal of {briefing.slug}")


def takedown_briefing(
    session: Session, briefing: Briefing, editor: str, *, reason: str
) -> PublicChanges:
    """Take a briefing's text out of everything served or exported (legal requests)."""
    found = appearances(session, briefing)
    topics = _topics_now(session, briefing)
    services.takedown(session, briefing, editor, reason)
    if not found:
        return PublicChanges()
    return _publish(session, briefing, found, topics, f"takedown of {briefing.slug}")


def expire_briefing(
    session: Session, briefing: Briefing, *, now: datetime | None = None
) -> PublicChanges:
    """Take a published briefing whose ``Expires:`` time passed out of feeds and pages."""
    if briefing.expired_at is not None:
        return PublicChanges()
    found = appearances(session, briefing)
    topics = _topics_now(session, briefing)
    services.expire(session, briefing, now or utcnow())
    if not found:
        return PublicChanges()
    return _publish(session, briefing, found, topics, f"expiry of {briefing.slug}")


def _topics_now(session: Session, briefing: Briefing) -> set[str]:
    """The topic names of the briefing's published and approved texts."""
    names: set[str] = set()
    for content in session.scalars(
        select(DigestItem.content).where(DigestItem.briefing_id == briefing.id)
    ):
        names.update(str(topic.get("name", "")) for topic in content.get("topics", []))
    if briefing.approved_revision is not None:
        approved = services.revision(session, briefing, briefing.approved_revision).parsed()
        names.update(approved.topic_names)
    return names


def _publish(
    session: Session,
    briefing: Briefing,
    found: list[Appearance],
    topics: Iterable[str],
    reason: str,
) -> PublicChanges:
    refresh_web_copies(session, briefing.id)
    names = set(topics)
    slugs: list[str] = []
    ids: list[int] = []
    for publication_slug in dict.fromkeys(a.publication for a in found):
        publication = session.scalars(
            select(Publication).where(Publication.slug == publication_slug)
        ).one()
        # A correction may name a topic no edition named before: it gets its page and feeds.
        assign_topic_slugs(session, publication, sorted(names))
        changed = feed_urls(session, publication, names)
        ids.append(record(session, publication_slug, changed, reason))
        slugs.append(publication_slug)
    return PublicChanges(tuple(slugs), tuple(ids))


def feed_urls(session: Session, publication: Publication, topic_names: Iterable[str]) -> list[str]:
    """The feeds a change to a briefing with these topics touches, in every format."""
    by_key = {name_key(name): slug for name, slug in topic_slugs(session, publication).items()}
    topics = sorted({by_key[key] for key in map(name_key, topic_names) if key in by_key})
    kinds = [*FEED_KINDS, *(f"topics/{slug}" for slug in topics)]
    base = publication.base_url
    return [
        urls.feed(base, publication.slug, kind, fmt) for kind in kinds for fmt in urls.FEED_FORMATS
    ]
