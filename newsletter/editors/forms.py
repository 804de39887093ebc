"""Parsing the values of editor forms and API bodies: times, days, local date-times.

Errors name the form field, so the page (or the API's 4xx answer) says which input
to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, time
from typing import Any

from newsletter.errors import InvalidInputError
from newsletter.schedules import due
from newsletter.schedules.models import ScheduledEdition

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::00)?$")
_AT = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]([01]\d|2[0-3]):[0-5]\d(?::00)?$")


def parse_time(value: str, *, field: str = "send_time") -> time:
    """``HH:MM`` as a time of day."""
    match = _TIME.match(value.strip())
    if not match:
        raise InvalidInputError(f"{field}: {value!r} is not a time of day (HH:MM)")
    return time(int(match.group(1)), int(match.group(2)))


def parse_local(value: str, *, field: str = "at") -> datetime:
    """``YYYY-MM-DDTHH:MM`` (what a datetime-local input sends) as a naive local time."""
    text = value.strip()
    try:
        if not _AT.match(text):
            raise ValueError(text)
        return datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise InvalidInputError(
            f"{field}: {value!r} is not a local date and time (YYYY-MM-DD HH:MM)"
        ) from None


def parse_days(values: Iterable[str], *, field: str = "weekdays") -> frozenset[str]:
    """Day names (mon ... sun), at least one."""
    days = {v.strip().lower() for v in values if v.strip()}
    unknown = sorted(days - set(due.WEEKDAYS))
    if unknown:
        raise InvalidInputError(f"{field}: unknown day {unknown[0]!r} (use mon ... sun)")
    if not days:
        raise InvalidInputError(f"{field}: choose at least one day")
    return frozenset(days)


def check_zone(name: str, *, field: str = "timezone") -> str:
    """An IANA time-zone name that exists."""
    try:
        due.zone(name.strip())
    except InvalidInputError:
        raise InvalidInputError(f"{field}: unknown time zone {name!r}") from None
    return name.strip()


def edition_row(edition: ScheduledEdition, digest_state: str | None) -> dict[str, Any]:
    """A scheduled edition as pages and the API show it (local time and UTC)."""
    tz = due.zone(edition.publication.timezone)
    return {
        "id": edition.id,
        "publication": edition.publication.slug,
        "edition_date": edition.edition_date.isoformat(),
        "due_local": edition.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
        "due_utc": edition.due_at.isoformat(),
        "kind": edition.kind.value,
        "state": edition.state.value,
        "digest_state": digest_state,
        "reason": edition.reason,
    }
