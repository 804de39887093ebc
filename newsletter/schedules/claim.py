"""Claiming due editions once: the heart of the beat tick.

``claim_due`` asks ``due.due_editions`` what is due and claims each edition through the
unique (publication, edition date, cadence, slot) key of ``scheduled_editions``: a
recurring edition is claimed by inserting its row, a one-off by a conditional
``UPDATE ... WHERE state = 'scheduled'``. Whoever loses the race (a second tick, a
second beat process) gets nothing, so nothing starts twice.

A local-delivery publication's edition is due at the earliest of its readers' zones
(``due`` module docstring); the tick reads the distinct zones of its confirmed readers
only for such publications, and only when one of their editions still to claim is near.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.digests.models import Digest
from newsletter.publications.models import Publication
from newsletter.schedules import due
from newsletter.schedules.models import EditionKind, EditionState, ScheduledEdition
from newsletter.schedules.services import reader_zones, recurring

MISSED_REASON = "not started within {window} of its time ({due_at:%Y-%m-%d %H:%M} UTC)"


@dataclass(frozen=True)
class TickResult:
    """What one tick claimed: editions to start, and editions it marked missed."""

    started: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)


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
        cadence=found.cadence,
        slot=found.slot,
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


def _schedules(
    session: Session,
    publications: list[Publication],
    taken: set[due.Key],
    now: datetime,
    *,
    lookback: timedelta,
    lead: timedelta,
) -> list[due.Recurring]:
    """Every publication's schedule; local-delivery ones with their readers' zones when an
    edition of theirs not yet taken could be due by ``now + lead`` in some zone."""
    schedules = [recurring(session, publication) for publication in publications]
    near = [
        schedule.publication_id
        for schedule in schedules
        if schedule.local_delivery
        and not schedule.paused
        and any(
            edition.key not in taken
            for edition in due.occurrences(
                schedule,
                max(now - lookback, schedule.active_since),
                now + lead + due.ZONE_SPREAD,
            )
        )
    ]
    if not near:
        return schedules
    zones = reader_zones(session, near)
    return [
        replace(schedule, zones=zones[schedule.publication_id])
        if schedule.publication_id in zones
        else schedule
        for schedule in schedules
    ]


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
    floor = now - lookback - timedelta(days=2) - due.ZONE_SPREAD
    rows = session.execute(
        select(
            ScheduledEdition.id,
            ScheduledEdition.publication_id,
            ScheduledEdition.edition_date,
            ScheduledEdition.due_at,
            ScheduledEdition.state,
            ScheduledEdition.cadence,
            ScheduledEdition.slot,
        ).where(
            (ScheduledEdition.state == EditionState.SCHEDULED) | (ScheduledEdition.due_at >= floor)
        )
    ).all()
    one_offs = [
        due.OneOff(row[0], row[1], row[2], row[3], row[5], row[6])
        for row in rows
        if row[4] is EditionState.SCHEDULED
    ]
    taken: set[due.Key] = {(row[1], row[2], row[5], row[6]) for row in rows}
    # A digest assembled by hand (``digest assemble``) also takes its date (and slot).
    digests = session.execute(
        select(Digest.publication_id, Digest.edition_date, Digest.cadence, Digest.slot).where(
            Digest.edition_date >= floor.date()
        )
    )
    taken.update((pub, day, cadence, slot) for pub, day, cadence, slot in digests)
    schedules = _schedules(session, publications, taken, now, lookback=lookback, lead=lead)
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
