"""Digest services: assemble an edition's snapshot, render it once, list editions.

Assembly is idempotent through the unique (publication, edition date, cadence) key: a
second call, or a concurrent one that loses the race, returns the digest already
stored. A date may have two editions: the daily one and a weekly roundup
(``Cadence.WEEKLY``, see ``assembly.select_roundup``), each its own snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter import urls
from newsletter.briefings.models import Briefing, BriefingRevision, BriefingState
from newsletter.content.briefing import BriefingContent
from newsletter.content.edition import Cadence, Edition, EditionItem
from newsletter.db import utcnow
from newsletter.digests.assembly import (
    ROUNDUP_WINDOW,
    Candidate,
    cutoff_at,
    local_today,
    next_edition_date,
    select_briefings,
    select_roundup,
)
from newsletter.digests.corrections_block import attach_corrections, corrections_of
from newsletter.digests.models import (
    RENDERED_STATES,
    Digest,
    DigestItem,
    DigestState,
    transition,
)
from newsletter.errors import NotFoundError, TransitionError
from newsletter.parsing import WEEKDAYS
from newsletter.publications.models import Publication
from newsletter.publications.services import publication_info
from newsletter.publications.topics import assign_topic_slugs, topic_slugs
from newsletter.render.email import render_email
from newsletter.render.web import ArchiveEntry, render_archive_index, render_edition_page


@dataclass(frozen=True)
class AssemblyResult:
    """The edition for a (publication, date) and whether this call created it."""

    digest: Digest
    created: bool


@contextmanager
def tentatively(session: Session) -> Iterator[None]:
    """Run the block in a savepoint that is always rolled back.

    Previews use it to assemble and render an edition without freezing it: briefings
    approved later still belong in the edition until it is really assembled.
    """
    savepoint = session.begin_nested()
    try:
        yield
    finally:
        savepoint.rollback()


def find_digest(
    session: Session,
    publication_id: int,
    edition_date: date,
    cadence: Cadence = Cadence.DAILY,
    slot: str = "",
) -> Digest | None:
    """The digest of a publication for a date (its daily edition, or its weekly roundup;
    with ``slot``, that named slot's edition)."""
    return session.scalar(
        select(Digest).where(
            Digest.publication_id == publication_id,
            Digest.edition_date == edition_date,
            Digest.cadence == cadence,
            Digest.slot == slot,
        )
    )


def get_digest(
    session: Session, digest_id: int, *, lock: bool = False, populate: bool = False
) -> Digest:
    """The digest with this id, or ``NotFoundError``.

    ``lock`` takes its row lock (``SELECT ... FOR UPDATE``); ``populate`` re-reads it
    from the database even if this session already holds it.
    """
    digest = session.get(Digest, digest_id, with_for_update=lock, populate_existing=populate)
    if digest is None:
        raise NotFoundError(f"unknown digest {digest_id}")
    return digest


def next_edition(publication: Publication, now: datetime | None = None) -> date:
    """The date of the publication's next edition whose cut-off has not passed yet."""
    days = {WEEKDAYS.index(day) for day in publication.weekdays}
    return next_edition_date(now or utcnow(), publication.send_time, publication.timezone, days)


# A candidate, its content, and the approval time of the revision frozen (its item's).
Found = dict[int, tuple[Candidate, BriefingContent, datetime]]


def _taken(publication: Publication, cadence: Cadence) -> ColumnElement[bool]:
    """Briefings already in an edition of this cadence of the publication."""
    taken = select(DigestItem.briefing_id).where(
        DigestItem.publication_id == publication.id, DigestItem.cadence == cadence
    )
    return Briefing.id.not_in(taken)


def _found(rows: Iterable[Any]) -> Found:
    """Rows of (briefing id, its approval, its first approval, its approved revision)."""
    found: Found = {}
    for briefing_id, approved_at, first_approved, revision in rows:
        assert approved_at is not None  # filtered in the query
        assert first_approved is not None
        content = revision.parsed()
        candidate = Candidate(
            briefing_id=briefing_id,
            revision=revision.number,
            priority=content.priority,
            approved_at=first_approved,
            topics=content.topic_names,
            embargo=content.embargo,
            expires=content.expires,
        )
        found[briefing_id] = (candidate, content, approved_at)
    return found


_APPROVED = (
    select(Briefing.id, Briefing.approved_at)
    .join(
        BriefingRevision,
        (BriefingRevision.briefing_id == Briefing.id)
        & (BriefingRevision.number == Briefing.approved_revision),
    )
    .where(
        Briefing.approved_revision.is_not(None),
        Briefing.approved_at.is_not(None),
        Briefing.state != BriefingState.WITHDRAWN,
    )
)


def _candidates(session: Session, publication: Publication, cutoff: datetime) -> Found:
    """Approved revisions (before the cut-off) not yet in any daily edition of the publication."""
    query = _APPROVED.add_columns(Briefing.approved_at, BriefingRevision).where(
        Briefing.approved_at < cutoff, _taken(publication, Cadence.DAILY)
    )
    return _found(session.execute(query))


def _week_candidates(session: Session, publication: Publication, cutoff: datetime) -> Found:
    """Live approved briefings first approved in the roundup's week, in no earlier roundup.

    A briefing's first approval is the one its first daily edition of the publication
    froze (a later correction moves ``Briefing.approved_at``, not this), or its current
    approval if no daily edition carried it. Taken-down and expired briefings are out.
    """
    first = (
        select(DigestItem.briefing_id, func.min(DigestItem.approved_at).label("first"))
        .where(DigestItem.publication_id == publication.id, DigestItem.cadence == Cadence.DAILY)
        .group_by(DigestItem.briefing_id)
        .subquery()
    )
    first_approved = func.coalesce(first.c.first, Briefing.approved_at)
    query = (
        _APPROVED.add_columns(first_approved, BriefingRevision)
        .outerjoin(first, first.c.briefing_id == Briefing.id)
        .where(
            Briefing.taken_down_at.is_(None),
            Briefing.expired_at.is_(None),
            first_approved >= cutoff - ROUNDUP_WINDOW,
            first_approved < cutoff,
            _taken(publication, Cadence.WEEKLY),
        )
    )
    return _found(session.execute(query))


def _build(
    session: Session,
    publication: Publication,
    edition_date: date,
    now: datetime,
    cutoff: datetime | None,
    cadence: Cadence,
    slot: str,
) -> Digest:
    if cutoff is None:
        cutoff = cutoff_at(edition_date, publication.send_time, publication.timezone)
    if cadence is Cadence.WEEKLY:
        candidates = _week_candidates(session, publication, cutoff)
        select_for, cap = select_roundup, publication.weekly_max
    else:
        candidates = _candidates(session, publication, cutoff)
        select_for, cap = select_briefings, publication.max_briefings
    selection = select_for(
        (found[0] for found in candidates.values()),
        topics=publication.topics,
        cap=cap,
        cutoff=cutoff,
    )
    digest = Digest(
        publication=publication,
        edition_date=edition_date,
        cadence=cadence,
        slot=slot,
        state=DigestState.SKIPPED if selection.skip_reason else DigestState.ASSEMBLED,
        cutoff_at=cutoff,
        assembled_at=now,
        skip_reason=selection.skip_reason,
        rolled_over=len(selection.rolled_over),
        notes=[],
    )
    for position, chosen in enumerate(selection.chosen, start=1):
        _, content, approved_at = candidates[chosen.briefing_id]
        digest.items.append(
            DigestItem(
                publication_id=publication.id,
                cadence=cadence,
                briefing_id=chosen.briefing_id,
                revision=chosen.revision,
                position=position,
                approved_at=approved_at,
                title=content.title,
                # A copy of the revision's content, not a reference: the edition
                # must not change even if the stored revision ever did.
                content=content.model_dump(mode="json"),
            )
        )
    session.add(digest)
    session.flush()
    # The "Corrections" block lists each change once per publication: in the next
    # daily edition. A roundup carries the corrected texts themselves.
    if digest.state is not DigestState.SKIPPED and cadence is Cadence.DAILY:
        attach_corrections(session, digest)
    return digest


def assemble_digest(
    session: Session,
    publication: Publication,
    edition_date: date | None = None,
    *,
    now: datetime | None = None,
    cutoff: datetime | None = None,
    cadence: Cadence = Cadence.DAILY,
    slot: str = "",
) -> AssemblyResult:
    """Assemble (or find) a publication's edition for a date (default: today in its zone).

    Briefings approved before ``cutoff`` are eligible: by default the publication's
    send time on that date; the scheduler passes the instant the edition was due, so
    a one-off or "send now" edition takes everything approved until then. A
    ``WEEKLY`` cadence assembles the date's weekly roundup instead
    (``assembly.select_roundup``: the week before ``cutoff``). A ``slot`` names one of
    the date's editions of a publication with named slots: it takes the briefings
    approved before its cut-off that no earlier daily edition carried (one briefing is
    in at most one daily edition of a publication, whatever its slot).
    """
    now = now or utcnow()
    edition_date = edition_date or local_today(now, publication.timezone)
    existing = find_digest(session, publication.id, edition_date, cadence, slot)
    if existing is not None:
        return AssemblyResult(existing, created=False)
    # Another process may assemble the same edition (or take one of the same
    # briefings for another date) between our read and our insert: the unique keys
    # refuse the second insert, and we then return the winner's digest or retry.
    retries = 1
    while True:
        try:
            with session.begin_nested():
                digest = _build(session, publication, edition_date, now, cutoff, cadence, slot)
        except IntegrityError:
            existing = find_digest(session, publication.id, edition_date, cadence, slot)
            if existing is not None:
                return AssemblyResult(existing, created=False)
            if not retries:
                raise
            retries -= 1
        else:
            return AssemblyResult(digest, created=True)


def build_edition(digest: Digest) -> Edition:
    """The plain value renderers take, built from the digest's frozen snapshot."""
    items = tuple(
        EditionItem(
            briefing_id=item.briefing_id,
            revision=item.revision,
            content=BriefingContent.model_validate(item.content),
            approved_at=item.approved_at,
            position=item.position,
        )
        for item in digest.items
    )
    return Edition(
        id=digest.id,
        publication=publication_info(digest.publication),
        edition_date=digest.edition_date,
        items=items,
        assembled_at=digest.assembled_at,
        published_at=digest.published_at,
        cadence=digest.cadence,
        slot=digest.slot,
    )


def render_digest(session: Session, digest_id: int) -> Digest:
    """Render an assembled digest once (email, text, web page); a rendered one is returned as is."""
    digest = session.get(Digest, digest_id, with_for_update=True)
    if digest is None:
        raise NotFoundError(f"unknown digest {digest_id}")
    if digest.state in RENDERED_STATES:
        return digest
    if digest.state is DigestState.SKIPPED:
        raise TransitionError(f"{digest.label()} was skipped ({digest.skip_reason}): not rendered")
    names = [name for item in digest.items for name in item.content_topic_names()]
    assign_topic_slugs(session, digest.publication, names)
    slugs = tuple(topic_slugs(session, digest.publication).items())
    edition = replace(
        build_edition(digest), topic_slugs=slugs, corrections=corrections_of(session, digest)
    )
    email = render_email(edition)
    web_html = render_edition_page(edition)
    transition(digest, DigestState.RENDERED)
    digest.subject = email.subject
    digest.preheader = email.preheader
    digest.html = email.html
    digest.text = email.text
    digest.web_html = web_html
    digest.html_bytes = len(email.html.encode("utf-8"))
    digest.notes = list(email.notes)
    digest.rendered_at = utcnow()
    session.flush()
    return digest


def embargo_of(digest: Digest) -> tuple[datetime, DigestItem] | None:
    """The latest embargo among the edition's briefings and the item carrying it, if any."""
    latest: tuple[datetime, DigestItem] | None = None
    for item in digest.items:
        value = item.content.get("embargo")
        embargo = datetime.fromisoformat(value) if value else None
        if embargo is not None and (latest is None or embargo > latest[0]):
            latest = (embargo, item)
    return latest


class EmbargoPending(TransitionError):
    """An edition cannot be made public yet: a briefing in it is under embargo until ``until``.

    A ``TransitionError``, so the CLI and the API show it as one line; a caller that
    can wait (the pipeline) may catch it and try again from ``until``.
    """

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


def check_embargo(digest: Digest, now: datetime) -> None:
    """Refuse (``EmbargoPending``) to make an edition public before its latest embargo."""
    found = embargo_of(digest)
    if found is not None and now < found[0]:
        embargo, item = found
        lifted = embargo.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        raise EmbargoPending(
            f"{digest.label()} cannot be made public before {lifted} UTC: briefing "
            f"{item.content.get('slug')!r} (id {item.briefing_id}) is under embargo until "
            f"{embargo.isoformat()}",
            until=embargo,
        )


def publish_digest(session: Session, digest_id: int, *, now: datetime | None = None) -> Digest:
    """Make an edition public (web archive and feeds), rendering it first if needed.

    Idempotent: an edition already public is returned as it is. Editions published
    without email stop here; the pipeline goes on from ``published`` to sending.
    An edition is never made public before the latest embargo among its briefings
    (``EmbargoPending``, a ``TransitionError`` naming the briefing and the time).
    """
    digest = render_digest(session, digest_id)
    if digest.state is DigestState.RENDERED:
        check_embargo(digest, now or utcnow())
        transition(digest, DigestState.PUBLISHED)
        session.flush()
    elif digest.published_at is None:
        raise TransitionError(f"{digest.label()} is {digest.state.value}: it cannot be published")
    return digest


def list_digests(session: Session, publication: Publication) -> list[Digest]:
    """Every edition of a publication, newest first (a date's roundup before its daily)."""
    return list(
        session.scalars(
            select(Digest)
            .where(Digest.publication_id == publication.id)
            .order_by(Digest.edition_date.desc(), Digest.cadence.desc(), Digest.cutoff_at.desc())
        )
    )


def item_counts(session: Session, digest_ids: list[int]) -> dict[int, int]:
    """How many briefings each of these digests holds."""
    rows = session.execute(
        select(DigestItem.digest_id, func.count())
        .where(DigestItem.digest_id.in_(digest_ids))
        .group_by(DigestItem.digest_id)
    )
    counts = dict.fromkeys(digest_ids, 0)
    counts.update((digest_id, count) for digest_id, count in rows)
    return counts


def archive_entries(
    session: Session, publication: Publication, *, published_only: bool = False
) -> list[ArchiveEntry]:
    """The rendered editions of a publication, newest first, for the archive index.

    Editors' previews list every rendered edition; the public archive
    (``published_only``) lists only editions that have been made public.
    """
    digests = [
        d
        for d in list_digests(session, publication)
        if d.state in RENDERED_STATES and (d.published_at is not None or not published_only)
    ]
    counts = item_counts(session, [d.id for d in digests])
    return [
        ArchiveEntry(
            edition_date=digest.edition_date,
            title=digest.subject or publication.name,
            url=edition_url(digest),
            briefing_count=counts[digest.id],
            weekly=digest.cadence is Cadence.WEEKLY,
            alert=digest.cadence is Cadence.ALERT,
            slot=digest.slot,
        )
        for digest in digests
    ]


def edition_url(digest: Digest) -> str:
    """The web page of a digest: its date's daily page, its weekly roundup's, its slot's,
    or its alert's."""
    pub = digest.publication
    if digest.cadence is Cadence.ALERT:
        return urls.alert_page(pub.base_url, pub.slug, digest.slot)
    weekly = digest.cadence is Cadence.WEEKLY
    return urls.edition_page(
        pub.base_url, pub.slug, digest.edition_date, weekly=weekly, slot=digest.slot
    )


def render_archive(
    session: Session, publication: Publication, *, published_only: bool = False
) -> str:
    """The HTML archive index of a publication's rendered (or only published) editions."""
    entries = archive_entries(session, publication, published_only=published_only)
    return render_archive_index(publication_info(publication), entries)
