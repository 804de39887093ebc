"""Which daily edition a preview is of: the main schedule's, or a named slot's.

A publication with named slots ("morning", "evening") gives one daily edition per slot,
each with its own send time and cut-off. The preview form and its test copy name the
slot (``slot``; by default the soonest); ``next_daily`` finds the next edition of it
whose cut-off is still ahead, and what assembling it needs (the slot, its cut-off).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy.orm import Session

from newsletter import parsing
from newsletter.content.edition import Cadence
from newsletter.digests.services import next_edition
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.localtime import local_instant
from newsletter.publications.models import Publication
from newsletter.schedules import slots
from newsletter.schedules.models import ScheduleSlot

# Days looked ahead for a slot's next edition: every slot has at least one weekday.
_WEEK = 8


@dataclass(frozen=True)
class DailyTarget:
    """The next daily edition of the main schedule (``slot`` "") or of a named slot."""

    edition_date: date
    send_time: time
    slot: str = ""
    cutoff: datetime | None = None  # a slot's edition takes what was approved before it


def slot_names(session: Session, publication: Publication) -> list[str]:
    """The publication's named slots, in the order of their times."""
    return [row.name for row in slots.slots_of(session, publication)]


def read_slot(session: Session, publication: Publication, typed: str, cadence: Cadence) -> str:
    """The slot typed into the form ("" the main schedule), or ``InvalidInputError`` naming
    ``slot``: one the publication does not have, or beside a weekly roundup."""
    name = typed.strip()
    if not name:
        return ""
    if cadence is Cadence.WEEKLY:
        raise InvalidInputError("slot: a weekly roundup belongs to the main schedule, not a slot")
    try:
        slots.get_slot(session, publication, name, field="slot")
    except NotFoundError as exc:
        raise InvalidInputError(str(exc)) from None
    return name


def next_daily(session: Session, publication: Publication, slot: str, now: datetime) -> DailyTarget:
    """The next edition of ``slot`` whose cut-off is ahead; without one, the main
    schedule's, or (a publication with slots: they give its daily editions) the soonest
    of its slots'."""
    if slot:
        return _next_of(publication, slots.get_slot(session, publication, slot, field="slot"), now)
    rows = slots.slots_of(session, publication)
    if not rows:
        return DailyTarget(next_edition(publication, now), publication.send_time)
    return min((_next_of(publication, row, now) for row in rows), key=_due)


def _due(target: DailyTarget) -> tuple[date, time]:
    return target.edition_date, target.send_time


def _next_of(publication: Publication, row: ScheduleSlot, now: datetime) -> DailyTarget:
    today = now.astimezone(parsing.zone(publication.timezone)).date()
    for offset in range(_WEEK + 1):
        day = today + timedelta(days=offset)
        if parsing.WEEKDAYS[day.weekday()] not in row.weekdays:
            continue
        due_at = local_instant(day, row.send_time, publication.timezone)
        cutoff = due_at - timedelta(minutes=row.cutoff_minutes)
        if cutoff > now:
            return DailyTarget(day, row.send_time, row.name, cutoff)
    raise InvalidInputError(f"slot: {row.name!r} has no day")  # pragma: no cover
