"""The options ``newsletter digest`` commands share, and how they are read.

Light on purpose: ``newsletter digest --help`` imports this module and click only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import click

from newsletter.content.cadence import READER_CADENCES, Cadence
from newsletter.errors import InvalidInputError

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date(value: str | None) -> date | None:
    """The ``--date`` option as a date, or one clear error naming the option."""
    if value is None:
        return None
    try:
        if not _ISO_DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"--date: {value!r} is not a date (expected YYYY-MM-DD)") from None


option_publication = click.option(
    "--publication", "slug", required=True, help="The publication's slug."
)
option_date = click.option(
    "--date", "date_text", help="Edition date, YYYY-MM-DD (default: today in its time zone)."
)
option_preview_date = click.option(
    "--date",
    "date_text",
    help="Edition date, YYYY-MM-DD (default: the next edition whose cut-off is still ahead).",
)


def _to_cadence(ctx: click.Context, param: click.Parameter, value: str) -> Cadence:
    return Cadence(value)


option_cadence = click.option(
    "--cadence",
    type=click.Choice([c.value for c in READER_CADENCES]),
    default=Cadence.DAILY.value,
    show_default=True,
    callback=_to_cadence,
    help="The date's daily edition, or its weekly roundup (on a weekday the publication offers).",
)


option_slot = click.option(
    "--slot",
    default="",
    help="A named slot's edition of the date, e.g. evening (newsletter schedule slot list).",
)


def kind_of(cadence: Cadence) -> str:
    """How the commands name an edition of a cadence: "edition" or "weekly roundup"."""
    return "weekly roundup" if cadence is Cadence.WEEKLY else "edition"


def sending_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options ``digest send`` and ``digest resend`` share: publication, date, cadence,
    slot, workers."""
    workers = click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 32))
    chosen = option_slot(workers(click.pass_context(command)))
    return option_publication(option_date(option_cadence(chosen)))
