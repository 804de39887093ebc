"""Local wall-clock times as UTC instants, with the daylight-saving rules every schedule uses.

* **The wall clock wins.** 07:00 local stays 07:00 local all year.
* **A local time that does not exist** (clocks spring forward over it) runs at the
  first valid instant after it: the moment of the transition.
* **A local time that occurs twice** (clocks fall back over it) runs once, at its
  first occurrence (``fold=0``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from newsletter.parsing import zone


def _offset_at(instant: datetime, tz: ZoneInfo) -> timedelta | None:
    return instant.astimezone(tz).utcoffset()


def _transition_between(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (before, after] whose UTC offset differs from ``before``'s."""
    start = _offset_at(before, tz)
    low, high = before, after
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if _offset_at(middle, tz) == start:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def local_instant(day: date, at: time, timezone: str) -> datetime:
    """The UTC instant of local ``day`` ``at`` in ``timezone``, with the DST rules above."""
    tz = zone(timezone)
    wall = datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz)  # fold=0: first occurrence
    instant = wall.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant
    # The wall time falls in a gap. fold=1 reads it with the offset after the
    # transition and fold=0 with the one before: the transition lies between them.
    other = wall.replace(fold=1).astimezone(UTC)
    before, after = min(instant, other), max(instant, other)
    return _transition_between(before, after, tz)
