"""Named slots of a publication's schedule, as plain values, and the rules they follow.

A slot ("morning", "evening") has a local send time, weekdays and a cut-off: briefings
approved less than ``cutoff_minutes`` before its send time wait for the next slot.
Its *window* on a weekday is the closed interval from its cut-off to its send time.
Two slots of a publication may not share a send time on a weekday, and no slot's
window may overlap another's (windows are compared across midnight and the end of
the week: a 00:15 slot with a 30-minute cut-off starts its window at 23:45 the day
before). Each rule names the field it refuses.

Slot names appear in URLs (``/p/<publication>/<date>/<slot>/``): a lowercase slug of
at most 40 characters that is not a word those URLs already use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import time

from newsletter.errors import ConflictError, InvalidInputError
from newsletter.parsing import WEEKDAYS, is_slug

MAX_NAME = 40
# The longest cut-off: a window longer than a day would overlap the slot itself.
MAX_CUTOFF_MINUTES = 23 * 60
# Path words an edition's URLs already use after its date (variant pages: ``for/<key>/``).
RESERVED_NAMES = frozenset({"for", "weekly", "feeds", "briefings", "topics"})
_DAY = 24 * 60
_WEEK = 7 * _DAY


@dataclass(frozen=True)
class SlotSpec:
    """One named slot: its local send time, weekdays ("mon" ... "sun") and cut-off."""

    name: str
    send_time: time
    weekdays: frozenset[str]
    cutoff_minutes: int = 0

    def describe(self) -> str:
        """E.g. ``'evening' (18:00 mon,tue; cut-off 30 min)``."""
        days = ",".join(day for day in WEEKDAYS if day in self.weekdays)
        return f"{self.name!r} ({self.send_time:%H:%M} {days}; cut-off {self.cutoff_minutes} min)"

    def windows(self) -> Iterator[tuple[int, int, str]]:
        """(start, end, weekday) of each of its windows, in minutes from Monday 00:00."""
        at = self.send_time.hour * 60 + self.send_time.minute
        for index, day in enumerate(WEEKDAYS):
            if day in self.weekdays:
                end = index * _DAY + at
                yield end - self.cutoff_minutes, end, day


def check_name(name: str, *, field: str) -> str:
    """A slot name, or an error naming ``field``."""
    if not is_slug(name, max_length=MAX_NAME):
        raise InvalidInputError(
            f"{field}: {name!r} is not a slot name (lowercase letters, digits and hyphens, "
            f"at most {MAX_NAME} characters)"
        )
    if name in RESERVED_NAMES:
        raise InvalidInputError(
            f"{field}: {name!r} is reserved in edition URLs; choose another slot name"
        )
    return name


def check_cutoff(minutes: int, *, field: str) -> int:
    """A cut-off in minutes, or an error naming ``field``."""
    if not 0 <= minutes <= MAX_CUTOFF_MINUTES:
        raise InvalidInputError(
            f"{field}: {minutes} is not a cut-off (0 to {MAX_CUTOFF_MINUTES} minutes "
            "before the slot's time)"
        )
    return minutes


def _meet(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two closed intervals of the week meet, also across the week's end."""
    return any(a[0] <= b[1] + shift and b[0] + shift <= a[1] for shift in (-_WEEK, 0, _WEEK))


def clash(new: SlotSpec, other: SlotSpec) -> str | None:
    """Why two slots cannot both exist (same time on a shared day, or windows that
    overlap), or None."""
    for start, end, day in new.windows():
        for other_start, other_end, _ in other.windows():
            if end == other_end:
                return f"{new.describe()} has the same time as {other.describe()} on {day}"
            if _meet((start, end), (other_start, other_end)):
                return f"{new.describe()} overlaps the cut-off window of {other.describe()}"
    return None


def check_slots(slots: Sequence[SlotSpec], *, field: str) -> None:
    """Refuse (naming ``field``) duplicate names or two slots that clash."""
    seen: set[str] = set()
    for index, slot in enumerate(slots):
        if slot.name in seen:
            raise InvalidInputError(f"{field}: slot {slot.name!r} is given twice")
        seen.add(slot.name)
        for other in slots[:index]:
            reason = clash(slot, other)
            if reason is not None:
                raise InvalidInputError(f"{field}: {reason}")


def check_new_slot(slot: SlotSpec, existing: Iterable[SlotSpec], *, field: str) -> None:
    """Refuse (naming ``field``) a slot whose name is taken or that clashes with one."""
    for other in existing:
        if other.name == slot.name:
            raise ConflictError(f"{field}: slot {slot.name!r} already exists")
        reason = clash(slot, other)
        if reason is not None:
            raise ConflictError(f"{field}: {reason}")
