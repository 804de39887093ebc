"""What an edition is (its cadence): a module without dependencies, so that the command
line can offer the choices without importing the renderers' values (pydantic)."""

from __future__ import annotations

from enum import StrEnum


class Cadence(StrEnum):
    """What an edition is: each scheduled edition, a weekly roundup, or an alert.

    Readers choose ``DAILY`` or ``WEEKLY`` (``READER_CADENCES``); an ``ALERT`` is one
    briefing sent at once, outside the schedule, to readers who opted into alerts.
    """

    DAILY = "daily"
    WEEKLY = "weekly"
    ALERT = "alert"


# The cadences a reader (or an editor scheduling an edition) can choose.
READER_CADENCES: tuple[Cadence, ...] = (Cadence.DAILY, Cadence.WEEKLY)
