"""Which editions are due: a pure function of schedules, one-off editions and now.

A publication's recurring schedule is a local send time, a set of weekdays and an
IANA time zone. Each matching local date gives one edition, due at that local time
converted to UTC. Each of its ``weekly_days`` also gives that date's weekly roundup
(``Cadence.WEEKLY``), due at the same instant: an edition is keyed by (publication,
date, cadence, slot) everywhere here.

**Named slots.** A publication with slots (``Recurring.slots``: "morning", "evening")
has one daily edition per slot instead of its main daily edition: each slot gives,
on each of its weekdays, an edition keyed by its name (``DueEdition.slot``), due at
its own local send time, whose cut-off (``DueEdition.cutoff``) is ``cutoff_minutes``
before that. Weekly roundups stay on the main schedule (slot ``""``, ``send_time``).
A slot counts only from when it was added (``Slot.active_since``). Slots are never
combined with local delivery (refused when a slot is added or local delivery set).

**Local delivery.** A publication that delivers at ``send_time`` in each reader's own
zone assembles each edition once, at its *cut-off*: the earliest of ``send_time`` on
that date over the publication's zone and every zone its confirmed readers have
(``Recurring.zones``). The edition is due then; the delivery core sends each zone
group at its own local instant. Daylight-saving rules:

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
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from newsletter.content.edition import Cadence
from newsletter.localtime import local_instant
from newsletter.parsing import WEEKDAYS, zone

DEFAULT_LOOKBACK = timedelta(days=2)

# How much earlier than in the publication's own zone a reader's zone can reach the same
# wall-clock time (UTC+14 against UTC-12): the edition of a date is due at most this
# long before the publication's own instant.
ZONE_SPREAD = timedelta(hours=26)

# An edition's key: (publication id, edition date, cadence, slot; "" the main schedule).
Key = tuple[int, date, Cadence, str]


@dataclass(frozen=True)
class Slot:
    """A named slot of a publication's schedule, as plain values."""

    name: str
    send_time: time
    weekdays: frozenset[str]
    cutoff_minutes: int = 0
    active_since: datetime | None = None


@dataclass(frozen=True)
class Recurring:
    """A publication's recurring schedule, as plain values.

    ``zones`` are its confirmed readers' own zones, used only with ``local_delivery``
    (the publication's ``timezone`` always counts too).
    """

    publication_id: int
    send_time: time
    weekdays: frozenset[str]
    timezone: str
    active_since: datetime
    paused: bool = False
    weekly_days: frozenset[str] = frozenset()
    local_delivery: bool = False
    zones: frozenset[str] = frozenset()
    slots: tuple[Slot, ...] = ()

    def due_at(self, day: date) -> datetime:
        """The cut-off of the edition of ``day``: ``send_time`` in the publication's zone,
        or with local delivery the earliest such instant over every reader's zone."""
        zones = {self.timezone} | (self.zones if self.local_delivery else set())
        return min(local_instant(day, self.send_time, name) for name in sorted(zones))

    def cadences(self, day: date) -> tuple[Cadence, ...]:
        """The editions the main schedule gives on ``day``: daily, weekly, both or none
        (never daily when the publication has slots: they give its daily editions)."""
        name = WEEKDAYS[day.weekday()]
        daily = (Cadence.DAILY,) if name in self.weekdays and not self.slots else ()
        return daily + ((Cadence.WEEKLY,) if name in self.weekly_days else ())


@dataclass(frozen=True)
class OneOff:
    """A one-off edition waiting for its instant (state ``scheduled``)."""

    edition_id: int
    publication_id: int
    edition_date: date
    due_at: datetime
    cadence: Cadence = Cadence.DAILY
    slot: str = ""


@dataclass(frozen=True)
class DueEdition:
    """An edition to start now (or to mark missed, when ``late``)."""

    publication_id: int
    edition_date: date
    due_at: datetime
    late: bool
    edition_id: int | None = None  # set for one-off editions
    cadence: Cadence = Cadence.DAILY
    slot: str = ""
    # Briefings approved before this go in (None: ``due_at``); a slot's is earlier.
    cutoff: datetime | None = None

    @property
    def key(self) -> Key:
        """(publication id, edition date, cadence, slot): what makes the edition unique."""
        return (self.publication_id, self.edition_date, self.cadence, self.slot)


def occurrences(schedule: Recurring, start: datetime, end: datetime) -> Iterator[DueEdition]:
    """The schedule's editions with ``start < due_at <= end``, oldest first (never late).

    A date's daily edition comes before its weekly roundup (same instant); a slot's
    edition comes at its own instant.
    """
    tz = zone(schedule.timezone)
    # Local dates can be a day either side of the UTC dates of the bounds, and with
    # local delivery a reader's zone reaches a date up to ZONE_SPREAD earlier.
    margin = timedelta(days=2) if schedule.local_delivery else timedelta(days=1)
    day = start.astimezone(tz).date() - margin
    last = end.astimezone(tz).date() + margin
    while day <= last:
        cadences = schedule.cadences(day)
        if cadences:
            due_at = schedule.due_at(day)
            if start < due_at <= end:
                for cadence in cadences:
                    yield DueEdition(
                        schedule.publication_id, day, due_at, late=False, cadence=cadence
                    )
        yield from _slot_occurrences(schedule, day, start, end)
        day += timedelta(days=1)


def _slot_occurrences(
    schedule: Recurring, day: date, start: datetime, end: datetime
) -> Iterator[DueEdition]:
    """The editions the publication's slots give on ``day`` with ``start < due_at <= end``."""
    name = WEEKDAYS[day.weekday()]
    for slot in schedule.slots:
        if name not in slot.weekdays:
            continue
        due_at = local_instant(day, slot.send_time, schedule.timezone)
        if not start < due_at <= end:
            continue
        if slot.active_since is not None and due_at <= slot.active_since:
            continue
        yield DueEdition(
            schedule.publication_id,
            day,
            due_at,
            late=False,
            slot=slot.name,
            cutoff=due_at - timedelta(minutes=slot.cutoff_minutes),
        )


def due_editions(
    schedules: Iterable[Recurring],
    one_offs: Iterable[OneOff],
    taken: Collection[Key],
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
    found: dict[Key, DueEdition] = {}
    horizon = now + lead
    for one_off in one_offs:
        if one_off.due_at <= horizon and one_off.publication_id not in paused:
            late = now - one_off.due_at > window
            edition = DueEdition(
                one_off.publication_id,
                one_off.edition_date,
                one_off.due_at,
                late,
                edition_id=one_off.edition_id,
                cadence=one_off.cadence,
                slot=one_off.slot,
            )
            found[edition.key] = edition
    floor = now - lookback
    for schedule in schedules:
        if schedule.paused:
            continue
        for edition in occurrences(schedule, max(floor, schedule.active_since), horizon):
            # A one-off edition for the same date, cadence and slot replaces the recurring one.
            if edition.key in taken or edition.key in found:
                continue
            found[edition.key] = replace(edition, late=now - edition.due_at > window)
    return sorted(found.values(), key=lambda e: (e.due_at, *e.key))


def next_occurrences(schedule: Recurring, now: datetime, count: int) -> list[DueEdition]:
    """The schedule's next ``count`` editions after ``now`` (for ``schedule list``)."""
    daily = any(slot.weekdays for slot in schedule.slots) if schedule.slots else schedule.weekdays
    if not (daily or schedule.weekly_days) or schedule.paused:
        return []
    found: list[DueEdition] = []
    start = now
    while len(found) < count:
        end = start + timedelta(days=8)
        found.extend(sorted(occurrences(schedule, start, end), key=lambda e: (e.due_at, e.slot)))
        start = end
    return found[:count]
