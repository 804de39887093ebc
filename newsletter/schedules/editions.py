"""One-off editions: schedule one (or a weekly roundup, or a slot's edition) at a local
time, send today's now, and read what the scheduler holds."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import parsing
from newsletter.content.edition import Cadence
from newsletter.db import utcnow
from newsletter.digests.models import Digest
from newsletter.errors import ConflictError, InvalidInputError, NotFoundError
from newsletter.localtime import local_instant
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.schedules.models import EditionKind, EditionState, ScheduledEdition
from newsletter.schedules.slots import get_slot


def _taken(
    session: Session, publication: Publication, edition_date: date, cadence: Cadence, slot: str
) -> str | None:
    """Why an edition of that cadence and slot for that date cannot be added, or None."""
    row = session.scalar(
        select(ScheduledEdition).where(
            ScheduledEdition.publication_id == publication.id,
            ScheduledEdition.edition_date == edition_date,
            ScheduledEdition.cadence == cadence,
            ScheduledEdition.slot == slot,
        )
    )
    if row is not None:
        return f"{row.label()} is already {row.state.value}"
    digest = session.scalar(
        select(Digest.id).where(
            Digest.publication_id == publication.id,
            Digest.edition_date == edition_date,
            Digest.cadence == cadence,
            Digest.slot == slot,
        )
    )
    if digest is not None:
        kind = "weekly roundup" if cadence is Cadence.WEEKLY else "digest"
        of = f" ({slot})" if slot else ""
        return f"{kind} {digest} already exists for {edition_date.isoformat()}{of}"
    return None


def refuse_weekly_day(publication: Publication, edition_date: date) -> None:
    """Raise ``InvalidInputError`` unless the publication offers a roundup on that weekday:
    only readers of that weekday get a weekly roundup."""
    day = parsing.WEEKDAYS[edition_date.weekday()]
    if day not in publication.weekly_days:
        offered = ",".join(publication.weekly_days) or "none"
        raise InvalidInputError(
            f"--cadence weekly: {publication.slug} offers no weekly roundup on {day} "
            f"({edition_date.isoformat()}; weekly days: {offered})"
        )


def refuse_if_paused(publication: Publication) -> None:
    """Raise ``ConflictError`` if the publication is paused: no edition may go out."""
    if publication.paused:
        raise ConflictError(
            f"{publication.slug} is paused: no edition goes out until it is resumed "
            f"(newsletter publications resume {publication.slug})"
        )


def schedule_once(
    session: Session,
    slug: str,
    local: datetime,
    *,
    kind: EditionKind = EditionKind.ONCE,
    now: datetime | None = None,
    cadence: Cadence = Cadence.DAILY,
    slot: str = "",
) -> ScheduledEdition:
    """Add a one-off edition (or weekly roundup) at a local date and time in the
    publication's time zone; with ``slot``, that slot's edition of the date (it
    replaces the recurring one, and takes what was approved until ``local``)."""
    now = now or utcnow()
    publication = get_publication(session, slug)
    refuse_if_paused(publication)
    if cadence is Cadence.WEEKLY:
        refuse_weekly_day(publication, local.date())
    if slot:
        if cadence is Cadence.WEEKLY:
            raise InvalidInputError(
                "--slot: a weekly roundup belongs to the main schedule, not to a slot"
            )
        get_slot(session, publication, slot)
    due_at = local_instant(local.date(), local.time(), publication.timezone)
    if kind is EditionKind.ONCE and due_at <= now:
        raise ConflictError(f"--at: {local:%Y-%m-%d %H:%M} is in the past")
    reason = _taken(session, publication, local.date(), cadence, slot)
    if reason is not None:
        raise ConflictError(f"{publication.slug} {local.date().isoformat()}: {reason}")
    edition = ScheduledEdition(
        publication=publication,
        edition_date=local.date(),
        cadence=cadence,
        slot=slot,
        due_at=due_at,
        kind=kind,
        state=EditionState.SCHEDULED,
    )
    session.add(edition)
    session.flush()
    return edition


def send_now(
    session: Session,
    slug: str,
    *,
    now: datetime | None = None,
    cadence: Cadence = Cadence.DAILY,
    slot: str = "",
) -> ScheduledEdition:
    """Add today's edition (in the publication's zone; or its weekly roundup, or a slot's
    edition), due at once."""
    now = now or utcnow()
    publication = get_publication(session, slug)
    refuse_if_paused(publication)
    # Keep the microseconds: the edition's cut-off is this instant, and a briefing
    # approved a moment before pressing "send now" belongs in it.
    local = now.astimezone(parsing.zone(publication.timezone)).replace(tzinfo=None)
    return schedule_once(
        session, slug, local, kind=EditionKind.NOW, now=now, cadence=cadence, slot=slot
    )


def one_offs_ahead(
    session: Session, publication: Publication, now: datetime
) -> list[ScheduledEdition]:
    """The publication's one-off editions still to start, soonest first."""
    return list(
        session.scalars(
            select(ScheduledEdition)
            .where(
                ScheduledEdition.publication_id == publication.id,
                ScheduledEdition.kind == EditionKind.ONCE,
                ScheduledEdition.state == EditionState.SCHEDULED,
                ScheduledEdition.due_at > now,
            )
            .order_by(ScheduledEdition.due_at)
        )
    )


def send_now_refusal(session: Session, slug: str, *, now: datetime | None = None) -> str | None:
    """Why ``send_now`` would refuse today's edition now (paused, or today's edition is
    already on record), or None: the back office offers the action only then."""
    now = now or utcnow()
    publication = get_publication(session, slug)
    if publication.paused:
        return f"{publication.slug} is paused"
    today = now.astimezone(parsing.zone(publication.timezone)).date()
    return _taken(session, publication, today, Cadence.DAILY, "")


def get_edition(session: Session, edition_id: int) -> ScheduledEdition:
    """The scheduled edition with this id, or ``NotFoundError``."""
    edition = session.get(ScheduledEdition, edition_id)
    if edition is None:
        raise NotFoundError(f"unknown edition {edition_id}")
    return edition


def editions_with_digest_state(
    session: Session, *, slug: str | None = None
) -> list[tuple[ScheduledEdition, str | None]]:
    """Every edition the scheduler knows of with its digest's state, newest first."""
    query = (
        select(ScheduledEdition, Digest.state)
        .outerjoin(Digest, Digest.id == ScheduledEdition.digest_id)
        .order_by(ScheduledEdition.due_at.desc(), ScheduledEdition.id.desc())
    )
    if slug is not None:
        query = query.where(ScheduledEdition.publication_id == get_publication(session, slug).id)
    return [(edition, state.value if state else None) for edition, state in session.execute(query)]
