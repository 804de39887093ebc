"""The values of editor forms and API bodies: times, days, local date-times, zones.

The rules are ``newsletter.parsing``'s (shared with the TOML file and the CLI); these
name the form field by default, so the page (or the API's 4xx answer) says which
input to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time
from typing import Any

from newsletter import parsing
from newsletter.content.slots import SlotSpec
from newsletter.digests.models import DigestState, can_transition
from newsletter.errors import InvalidInputError
from newsletter.schedules.models import EditionState, ScheduledEdition, ScheduleSlot

# What a slot's fields are called in the form and the API body (for refusals).
SLOT_FIELDS = {
    "name": "name",
    "time": "send_time",
    "days": "weekdays",
    "cutoff": "cutoff_minutes",
}


def parse_time(value: str, *, field: str = "send_time") -> time:
    """``HH:MM`` (or ``HH:MM:00``) as a time of day."""
    return parsing.parse_time(value, field=field)


def parse_local(value: str, *, field: str = "at") -> datetime:
    """``YYYY-MM-DDTHH:MM`` (what a datetime-local input sends) as a naive local time."""
    return parsing.parse_local(value, field=field)


def parse_days(values: Iterable[str], *, field: str = "weekdays") -> frozenset[str]:
    """Day names (mon ... sun), at least one."""
    return parsing.parse_days(values, field=field)


def check_zone(name: str, *, field: str = "timezone") -> str:
    """An IANA time-zone name that exists."""
    return parsing.check_zone(name, field=field)


def schedule_fields(send_time: str, timezone: str, weekdays: Iterable[str]) -> dict[str, Any]:
    """A recurring schedule's fields, each checked, as ``actions.set_schedule`` takes them."""
    days = parse_days(weekdays)
    return {"send_time": parse_time(send_time), "timezone": check_zone(timezone), "weekdays": days}


def slot_spec(name: str, send_time: str, weekdays: Iterable[str], cutoff: str | int) -> SlotSpec:
    """A named slot's fields from a form or an API body, each checked (field named)."""
    try:
        minutes = int(cutoff or 0)
    except ValueError:
        raise InvalidInputError(
            f"cutoff_minutes: {str(cutoff)[:20]!r} is not a number of minutes"
        ) from None
    return SlotSpec(
        name=name.strip(),
        send_time=parse_time(send_time),
        weekdays=parse_days(weekdays),
        cutoff_minutes=minutes,
    )


def slot_row(slot: ScheduleSlot) -> dict[str, Any]:
    """A named slot as pages and the API show it."""
    return {
        "name": slot.name,
        "send_time": slot.send_time.strftime("%H:%M"),
        "weekdays": list(slot.weekdays),
        "cutoff_minutes": slot.cutoff_minutes,
    }


def edition_row(edition: ScheduledEdition, digest_state: str | None) -> dict[str, Any]:
    """A scheduled edition as pages and the API show it (local time and UTC)."""
    tz = parsing.zone(edition.publication.timezone)
    return {
        "id": edition.id,
        "publication": edition.publication.slug,
        "edition_date": edition.edition_date.isoformat(),
        "slot": edition.slot,
        "due_local": edition.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
        "due_utc": edition.due_at.isoformat(),
        "kind": edition.kind.value,
        "state": edition.state.value,
        "digest_state": digest_state,
        "reason": edition.reason,
        "can_cancel": can_cancel(edition, digest_state),
    }


def can_cancel(edition: ScheduledEdition, digest_state: str | None) -> bool:
    """Whether ``pipeline.cancel`` would take the edition: not yet final, and its digest
    (if any) still cancellable or sending (then its unsent batches stop)."""
    if edition.state not in (EditionState.SCHEDULED, EditionState.STARTED):
        return False
    if digest_state is None:
        return True
    state = DigestState(digest_state)
    return state is DigestState.SENDING or can_transition(state, DigestState.CANCELLED)
