"""Which editions are due: a pure function of schedules, one-off editions and now.

A publication's recurring schedule is a local send time, a set of weekdays and an
IANA time zone. Each matching local date gives one edition, due at that local time
converted to UTC. Daylight-saving rules:

* **The wall clock wins.** 07:00 local stays 07:00 local all year: the UTC instant
  moves by an hour across a transition, the local time never does.
* **A local time that does not exist** (clocks spring forward over it, e.g. 01:30 in
  Europe/London on the last Sunday of March) runs at the first valid instant after
  it: the moment of the transition (02:00 BST, the instant 01:00 UTC).
* **A local time that occurs twice** (clocks fall back over it, e.g. 01:30 in
  America/New_York on the first Sunday of November) runs once, at its first
  occurrence (``fold=0``: 01:30 EDT, the instant 05:30 UTC).

An edition is *due* once its instant has passed (or comes within ``lead``: a provider
that holds mail until a send_at lets an edition start that much early and still reach
every reader at its instant), it was not already taken (started,
missed, cancelled or scheduled as a one-off for the same date) and its instant falls
after the schedule became active (the publication was created, its schedule set, or
it was resumed). Occurrences further back than ``lookback`` are ignored. A due
edition whose instant is more than the freshness ``window`` in the past is returned
as ``late``: the caller marks it missed rather than sending it late without a word.

A paused publication has nothing due, one-off editions included: they wait in
``scheduled`` and, once it is resumed, start if still fresh or are marked missed if
the pause outlasted the window.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from newsletter.localtime import local_instant
from newsletter.parsing import WEEKDAYS, zone

DEFAULT_LOOKBACK = timedelta(days=2)


@dataclass(frozen=True)
class Recurring:
    """A publication's recurring schedule, as plain values."""

    publication_id: int
    send_time: time
    weekdays: frozenset[str]
    timezone: str
    active_since: datetime
    paused: bool = False


@dataclass(frozen=True)
class OneOff:
    """A one-off edition waiting for its instant (state ``scheduled``)."""

    edition_id: int
    publication_id: int
    edition_date: date
    due_at: datetime


@dataclass(frozen=True)
class DueEdition:
    """An edition to start now (or to mark missed, when ``late``)."""

    publication_id: int
    edition_date: date
    due_at: datetime
    late: bool
    edition_id: int | None = None  # set for one-off editions


def occurrences(schedule: Recurring, start: datetime, end: datetime) -> Iterator[DueEdition]:
    """The schedule's editions with ``start < due_at <= end``, oldest first (never late)."""
    tz = zone(schedule.timezone)
    # Local dates can be a day either side of the UTC dates of the bounds.
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        if WEEKDAYS[day.weekday()] in schedule.weekdays:
            due_at = local_instant(day, schedule.send_time, schedule.timezone)
            if start < due_at <= end:
                yield DueEdition(schedule.publication_id, day, due_at, late=False)
        day += timedelta(days=1)


def due_editions(
    schedules: Iterable[Recurring],
    one_offs: Iterable[OneOff],
    taken: Collection[tuple[int, date]],
    now: datetime,
    *,
    window: timedelta,
    lookback: timedelta = DEFAULT_LOOKBACK,
    lead: timedelta = timedelta(0),
) -> list[DueEdition]:
    """Every edition to start (or mark missed) at ``now``, by instant then publication.

    An edition starts ``lead`` before its instant; lateness is always measured from it.
    """
    schedules = list(schedules)
    paused = {schedule.publication_id for schedule in schedules if schedule.paused}
    found: dict[tuple[int, date], DueEdition] = {}
    horizon = now + lead
    for one_off in one_offs:
        if one_off.due_at <= horizon and one_off.publication_id not in paused:
            late = now - one_off.due_at > window
            key = (one_off.publication_id, one_off.edition_date)
            found[key] = DueEdition(*key, one_off.due_at, late, edition_id=one_off.edition_id)
    floor = now - lookback
    for schedule in schedules:
        if schedule.paused:
            continue
        for edition in occurrences(schedule, max(floor, schedule.active_since), horizon):
            key = (edition.publication_id, edition.edition_date)
            # A one-off edition for the same date replaces the recurring one.
            if key in taken or key in found:
                continue
            found[key] = DueEdition(*key, edition.due_at, now - edition.due_at > window)
    return sorted(found.values(), key=lambda e: (e.due_at, e.publication_id, e.edition_date))


def next_occurrences(schedule: Recurring, now: datetime, count: int) -> list[DueEdition]:
    """The schedule's next ``count`` editions after ``now`` (for ``schedule list``)."""
    if not schedule.weekdays or schedule.paused:
        return []
    found: list[DueEdition] = []
    start = now
    while len(found) < count:
        end = start + timedelta(days=8)
        found.extend(occurrences(schedule, start, end))
        start = end
    return found[:count]
