"""Parsing what people type: times of day, weekdays, time zones, local date-times, slugs.

One rule per kind of value, shared by the publications TOML file, the editors' forms,
the API and the CLI:

* **Time of day**: ``HH:MM`` on the 24-hour clock (``07:00``, ``18:30``). ``HH:MM:00``
  is accepted too (what a browser's time input may send); other seconds are refused,
  since editions are scheduled to the minute.
* **Local date and time**: ``YYYY-MM-DD HH:MM`` or ``YYYY-MM-DDTHH:MM`` (what a
  datetime-local input sends), again with an optional ``:00``; naive, local to the
  publication's time zone.
* **Weekdays**: ``mon`` ... ``sun``, as a list, or as text (``mon-fri``,
  ``mon,wed,fri``, ``sat-mon``, ``daily``).
* **Time zone**: an IANA name that exists (``Europe/London``).
* **Slug**: lower-case letters and digits in words joined by single hyphens, and never
  all digits (``2024-budget`` and ``g7`` are slugs, ``2024`` is not), so a slug is
  never mistaken for an id where a command or page takes either (``read_id``).
* **Row id**: a whole number from 1 to ``MAX_ID`` (ids are 32-bit integers in the
  database), so an id is never bigger than a column can hold (no ``OverflowError``).

The ``read_*`` functions give ``None`` for a value that breaks the rule, so a caller
can word its own error (pydantic validators); the ``parse_*`` functions raise an
``InvalidInputError`` that starts with the field or option it names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from newsletter.errors import InvalidInputError

MAX_ID = 2**31 - 1
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# One word with a letter in it, or several words: never all digits, never an id.
SLUG_PATTERN = r"^(?:[a-z0-9]*[a-z][a-z0-9]*|[a-z0-9]+(?:-[a-z0-9]+)+)$"
SLUG = re.compile(SLUG_PATTERN)
TIME_PATTERN = r"^([01]\d|2[0-3]):([0-5]\d)(?::00)?$"
LOCAL_PATTERN = r"^\d{4}-\d{2}-\d{2}[ T]([01]\d|2[0-3]):[0-5]\d(?::00)?$"
_TIME = re.compile(TIME_PATTERN)
_LOCAL = re.compile(LOCAL_PATTERN)
_EVERY_DAY = ("daily", "every day", "all")


def is_slug(text: str, *, max_length: int) -> bool:
    """Whether ``text`` is a slug of at most ``max_length`` characters."""
    return len(text) <= max_length and SLUG.fullmatch(text) is not None


def read_id(text: str) -> int | None:
    """``text`` as a row id if it is one (ASCII digits, 1 ... ``MAX_ID``), else ``None``.

    A slug is never all digits, so text of digits is always an id, never a slug.
    """
    cleaned = text.strip()
    if not (cleaned.isascii() and cleaned.isdigit()) or len(cleaned) > len(str(MAX_ID)):
        return None
    number = int(cleaned)
    return number if 1 <= number <= MAX_ID else None


def is_id(text: str) -> bool:
    """Whether ``text`` is written as an id (ASCII digits only), whatever its size."""
    cleaned = text.strip()
    return cleaned.isascii() and cleaned.isdigit()


def read_time(text: str) -> time | None:
    """``HH:MM`` (or ``HH:MM:00``) as a time of day, or ``None``."""
    match = _TIME.match(text.strip())
    return time(int(match.group(1)), int(match.group(2))) if match else None


def parse_time(value: str, *, field: str) -> time:
    """A time of day, or an error naming ``field``."""
    parsed = read_time(value)
    if parsed is None:
        raise InvalidInputError(f"{field}: {value!r} is not a time of day (expected HH:MM)")
    return parsed


def read_local(text: str) -> datetime | None:
    """``YYYY-MM-DD HH:MM`` (or with a ``T``, or ``:00``) as a naive date-time, or ``None``."""
    cleaned = text.strip()
    if not _LOCAL.match(cleaned):
        return None
    try:
        return datetime.fromisoformat(cleaned.replace("T", " "))
    except ValueError:  # a date that does not exist, e.g. 2030-02-30
        return None


def parse_local(value: str, *, field: str) -> datetime:
    """A naive local date and time, or an error naming ``field``."""
    parsed = read_local(value)
    if parsed is None:
        raise InvalidInputError(
            f"{field}: {value!r} is not a local date and time (expected 'YYYY-MM-DD HH:MM')"
        )
    return parsed


def read_days(values: Iterable[str]) -> tuple[frozenset[str], list[str]]:
    """Day names (any case, blanks ignored) and the sorted names that are not days."""
    days = frozenset(v.strip().lower() for v in values if v.strip())
    return days, sorted(days - set(WEEKDAYS))


def parse_days(values: Iterable[str], *, field: str) -> frozenset[str]:
    """A list of day names (mon ... sun), at least one, or an error naming ``field``."""
    days, unknown = read_days(values)
    if unknown:
        raise InvalidInputError(f"{field}: unknown day {unknown[0]!r} (use mon ... sun)")
    if not days:
        raise InvalidInputError(f"{field}: choose at least one day")
    return days


def parse_weekdays(text: str, *, field: str) -> frozenset[str]:
    """``mon-fri``, ``mon,wed,fri``, ``sat-mon`` or ``daily`` as a set of day names."""
    cleaned = text.strip().lower()
    if cleaned in _EVERY_DAY:
        return frozenset(WEEKDAYS)
    days: set[str] = set()
    for part in (p.strip() for p in cleaned.split(",")):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise InvalidInputError(
                f"{field}: {text!r} is not a list of days (e.g. mon-fri or mon,wed,fri)"
            )
        start = WEEKDAYS.index(first)
        span = (WEEKDAYS.index(last) - start) % 7 if last else 0
        days.update(WEEKDAYS[(start + step) % 7] for step in range(span + 1))
    return frozenset(days)


def read_zone(name: str) -> ZoneInfo | None:
    """The IANA time zone called ``name``, or ``None``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone(name: str, *, field: str = "timezone") -> ZoneInfo:
    """The IANA time zone called ``name``, or an error naming ``field``."""
    found = read_zone(name)
    if found is None:
        raise InvalidInputError(f"{field}: unknown time zone {name!r}")
    return found


def check_zone(name: str, *, field: str) -> str:
    """An IANA time-zone name that exists, stripped, or an error naming ``field``."""
    if read_zone(name.strip()) is None:
        raise InvalidInputError(f"{field}: unknown time zone {name!r}")
    return name.strip()
