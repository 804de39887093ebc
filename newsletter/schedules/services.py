"""Schedule services: set schedules, add one-off editions, and claim due editions.

Cancelling an edition is the pipeline's (``newsletter.pipeline.cancel``).

``claim_due`` is the heart of the beat tick. It asks ``due.due_editions`` what is due
and claims each edition through the unique (publication, edition date) key of
``scheduled_editions``: a recurring edition is claimed by inserting its row, a
one-off by a conditional ``UPDATE ... WHERE state = 'scheduled'``. Whoever loses the
race (a second tick, a second beat process) gets nothing, so nothing starts twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter import parsing
from newsletter.db import utcnow
from newsletter.digests.models import Digest
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.localtime import local_instant
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.schedules import due
from newsletter.schedules.models import (
    EditionKind,
    EditionState,
    ScheduleActivity,
    ScheduledEdition,
)

MISSED_REASON = "not started within {window} of its time ({due_at:%Y-%m-%d %H:%M} UTC)"


@dataclass(frozen=True)
class TickResult:
    """What one tick claimed: editions to start, and editions it marked missed."""

    started: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)


def active_since(session: Session, publication: Publication) -> datetime:
    """Since when the publication's recurring schedule counts."""
    row = session.get(ScheduleActivity, publication.id)
    return max(publication.created_at, row.active_since) if row else publication.created_at


def mark_active(session: Session, publication: Publication, now: datetime) -> None:
    """Record that the schedule counts from ``now`` on (after a change or a resume)."""
    row = session.get(ScheduleActivity, publication.id)
    if row is None:
        session.add(ScheduleActivity(publication_id=publication.id, active_since=now))
    else:
        row.active_since = now
    session.flush()


def recurring(session: Session, publication: Publication) -> due.Recurring:
    """A publication's schedule as the plain value ``due`` works on."""
    return due.Recurring(
        publication_id=publication.id,
        send_time=publication.send_time,
        weekdays=frozenset(publication.weekdays),
        timezone=publication.timezone,
        active_since=active_since(session, publication),
        paused=publication.paused,
    )


def set_schedule(
    session: Session,
    slug: str,
    *,
    send_time: time,
    timezone: str,
    weekdays: frozenset[str],
    now: datetime | None = None,
) -> Publication:
    """Change a publication's recurring schedule; editions before ``now`` are not due."""
    parsing.zone(timezone)
    if not weekdays:
        raise InvalidInputError("--days: give at least one day")
    publication = get_publication(session, slug)
    publication.send_time = send_time
    publication.timezone = timezone
    publication.weekdays = [day for day in parsing.WEEKDAYS if day in weekdays]
    mark_active(session, publication, now or utcnow())
    return publication


def set_paused(
    session: Session, slug: str, paused: bool, *, now: datetime | None = None
) -> Publication:
    """Pause or resume a publication; on resume, editions due while paused are not sent."""
    publication = get_publication(session, slug)
    if publication.paused and not paused:
        mark_active(session, publication, now or utcnow())
    publication.paused = paused
    session.flush()
    return publication


def _taken(session: Session, publication: Publication, edition_date: date) -> str | None:
    """Why an edition for that date cannot be added, or None."""
    row = session.scalar(
        select(ScheduledEdition).where(
            ScheduledEdition.publication_id == publication.id,
            ScheduledEdition.edition_date == edition_date,
        )
    )
    if row is not None:
        return f"{row.label()} is already {row.state.value}"
    digest = session.scalar(
        select(Digest.id).where(
            Digest.publication_id == publication.id, Digest.edition_date == edition_date
        )
    )
    if digest is not None:
        return f"digest {digest} already exists for {edition_date.isoformat()}"
    return None


def refuse_if_paused(publication: Publication) -> None:
    """Raise ``InvalidInputError`` if the publication is paused: no edition may go out."""
    if publication.paused:
        raise InvalidInputError(
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
) -> ScheduledEdition:
    """Add a one-off edition at a local date and time in the publication's time zone."""
    now = now or utcnow()
    publication = get_publication(session, slug)
    refuse_if_paused(publication)
    due_at = local_instant(local.date(), local.time(), publication.timezone)
    if kind is EditionKind.ONCE and due_at <= now:
        raise InvalidInputError(f"--at: {local:%Y-%m-%d %H:%M} is in the past")
    reason = _taken(session, publication, local.date())
    if reason is not None:
        raise InvalidInputError(f"{publication.slug} {local.date().isoformat()}: {reason}")
    edition = ScheduledEdition(
        publication=publication,
        edition_date=local.date(),
        due_at=due_at,
        kind=kind,
        state=EditionState.SCHEDULED,
    )
    session.add(edition)
    session.flush()
    return edition


def send_now(session: Session, slug: str, *, now: datetime | None = None) -> ScheduledEdition:
    """Add today's edition (in the publication's zone), due at once."""
    now = now or utcnow()
    publication = get_publication(session, slug)
    refuse_if_paused(publication)
    # Keep the microseconds: the edition's cut-off is this instant, and a briefing
    # approved a moment before pressing "send now" belongs in it.
    local = now.astimezone(parsing.zone(publication.timezone)).replace(tzinfo=None)
    return schedule_once(session, slug, local, kind=EditionKind.NOW, now=now)


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


def _claim(
    session: Session, found: due.DueEdition, state: EditionState, now: datetime, reason: str | None
) -> int | None:
    """Claim one due edition in ``state``; the id, or None when someone else has it."""
    if found.edition_id is not None:
        claimed = session.execute(
            update(ScheduledEdition)
            .where(
                ScheduledEdition.id == found.edition_id,
                ScheduledEdition.state == EditionState.SCHEDULED,
            )
            .values(state=state, reason=reason, started_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return found.edition_id if claimed.rowcount == 1 else None  # type: ignore[attr-defined]
    row = ScheduledEdition(
        publication_id=found.publication_id,
        edition_date=found.edition_date,
        due_at=found.due_at,
        kind=EditionKind.RECURRING,
        state=state,
        reason=reason,
        started_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None  # another tick inserted it first
    return row.id


def claim_due(
    session: Session,
    now: datetime,
    *,
    window: timedelta,
    lookback: timedelta = due.DEFAULT_LOOKBACK,
    lead: timedelta = timedelta(0),
) -> TickResult:
    """Claim every due edition once: ``started`` if fresh, ``missed`` if past the window.

    With a ``lead``, an edition is claimed that long before its time (sending ahead).
    """
    publications = list(session.scalars(select(Publication)))
    schedules = [recurring(session, publication) for publication in publications]
    floor = now - lookback - timedelta(days=2)
    rows = session.execute(
        select(
            ScheduledEdition.id,
            ScheduledEdition.publication_id,
            ScheduledEdition.edition_date,
            ScheduledEdition.due_at,
            ScheduledEdition.state,
        ).where(
            (ScheduledEdition.state == EditionState.SCHEDULED) | (ScheduledEdition.due_at >= floor)
        )
    ).all()
    one_offs = [
        due.OneOff(row[0], row[1], row[2], row[3])
        for row in rows
        if row[4] is EditionState.SCHEDULED
    ]
    taken = {(row[1], row[2]) for row in rows}
    # A digest assembled by hand (``digest assemble``) also takes its date.
    digests = session.execute(
        select(Digest.publication_id, Digest.edition_date).where(
            Digest.edition_date >= floor.date()
        )
    )
    taken.update((publication_id, edition_date) for publication_id, edition_date in digests)
    result = TickResult()
    for found in due.due_editions(
        schedules, one_offs, taken, now, window=window, lookback=lookback, lead=lead
    ):
        if found.late:
            reason = MISSED_REASON.format(window=window, due_at=found.due_at)
            claimed = _claim(session, found, EditionState.MISSED, now, reason)
            if claimed is not None:
                result.missed.append(claimed)
        else:
            claimed = _claim(session, found, EditionState.STARTED, now, None)
            if claimed is not None:
                result.started.append(claimed)
    return result
