"""What a reader chooses per publication: cadence, weekly day, topics; and the zones offered.

One set of rules for the preferences page, the sign-up form, the JSON endpoint, the
CLI and the CSV import, each refusal naming its field:

* **Cadence**: ``daily`` (every edition; blank means daily) or ``weekly`` (a roundup on
  one weekday). Weekly needs a day among the publication's ``weekly_days``; when the
  publication offers exactly one, that day is taken. A weekly day with a daily cadence
  is refused rather than guessed at.
* **Weekly day**: ``mon`` ... ``sun`` (any case, or the day's full English name).
* **Topics**: the publication's ``topics`` list; a publication without one (it covers
  every topic) offers the topics its editions have carried (``publication_topics``).
* **Zones**: any IANA zone is accepted; the pages list ``READER_ZONES``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter import i18n
from newsletter.content.edition import Cadence
from newsletter.errors import InvalidInputError
from newsletter.parsing import WEEKDAYS
from newsletter.publications.models import Publication
from newsletter.publications.topics import topic_slugs
from subscribers.models import MailingList, Subscription, SubscriptionState

DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
_FULL_NAMES = {name.lower(): day for day, name in DAY_NAMES.items()}
# Zone names kept for old systems that a person picking from a list should not see.
_HIDDEN_PREFIXES = (
    "Etc/",
    "SystemV/",
    "US/",
    "Brazil/",
    "Canada/",
    "Chile/",
    "Mexico/",
    "posix",
    "right/",
)
_HIDDEN = frozenset({"Factory", "localtime", "GMT0", "GMT+0", "GMT-0", "Greenwich", "UCT", "Zulu"})


@dataclass(frozen=True)
class Reading:
    """How often a reader gets a publication: a cadence and, for weekly, the day."""

    cadence: Cadence = Cadence.DAILY
    weekly_day: str | None = None


@cache
def reader_zones() -> tuple[str, ...]:
    """The IANA zones the pages list (regions/cities and UTC), sorted."""
    names = {
        name
        for name in available_timezones()
        if ("/" in name or name == "UTC")
        and not name.startswith(_HIDDEN_PREFIXES)
        and name not in _HIDDEN
    }
    return tuple(sorted(names))


def zone_options(current: str | None) -> list[str]:
    """The zones a select offers, with ``current`` kept even if it is not a listed one."""
    zones = list(reader_zones())
    if current and current not in zones:
        zones.insert(0, current)
    return zones


def read_weekday(value: str) -> str | None:
    """``mon`` ... ``sun`` from a three-letter or full day name in any case, or ``None``."""
    cleaned = value.strip().lower()
    if cleaned in WEEKDAYS:
        return cleaned
    return _FULL_NAMES.get(cleaned)


def _days_text(days: Sequence[str]) -> str:
    return ", ".join(days) if days else "none"


DAILY = Reading()


def clean_reading(cadence: str, weekly_day: str, offered_days: Sequence[str]) -> Reading:
    """A ``Reading`` from what was typed, or ``InvalidInputError`` naming the field."""
    if not cadence and not weekly_day:
        return DAILY  # most rows of a large import: no work per row
    typed = cadence.strip().lower()
    if typed in ("", Cadence.DAILY.value):
        if weekly_day.strip():
            raise InvalidInputError(
                f"weekly_day: {weekly_day.strip()[:20]!r} is only for the weekly cadence "
                "(set cadence to weekly, or leave the day empty)"
            )
        return DAILY
    if typed != Cadence.WEEKLY.value:
        raise InvalidInputError(f"cadence: {cadence.strip()[:20]!r} is not daily or weekly")
    if not offered_days:
        raise InvalidInputError("cadence: this publication offers no weekly roundup")
    if not weekly_day.strip():
        if len(offered_days) == 1:
            return Reading(Cadence.WEEKLY, offered_days[0])
        raise InvalidInputError(
            f"weekly_day: choose the day of your roundup ({_days_text(offered_days)})"
        )
    day = read_weekday(weekly_day)
    if day is None:
        raise InvalidInputError(
            f"weekly_day: {weekly_day.strip()[:20]!r} is not a day (use mon ... sun)"
        )
    if day not in offered_days:
        raise InvalidInputError(
            f"weekly_day: {day} is not a day this publication offers a roundup on "
            f"({_days_text(offered_days)})"
        )
    return Reading(Cadence.WEEKLY, day)


def offered_days(publication: Publication) -> list[str]:
    """The publication's roundup days, in week order (empty: no weekly roundup)."""
    return [day for day in WEEKDAYS if day in (publication.weekly_days or ())]


def language_options(publication: Publication) -> list[tuple[str, str]]:
    """The languages a reader may choose, as (tag, name in that language), the default
    first; none when the publication offers only one (the form then shows no choice)."""
    offered = publication.offered_languages()
    if len(offered) < 2:
        return []
    return [(tag, autonym(tag)) for tag in offered]


@cache
def autonym(tag: str) -> str:
    """A language's name as its readers write it ("Deutsch", "한국어"), from CLDR."""
    locale = i18n.babel_locale(tag)
    name = locale.get_display_name(locale) or tag
    return name[:1].upper() + name[1:]


def offered_topics(session: Session, publication: Publication) -> list[str]:
    """The topics a reader of ``publication`` may choose: its list, or those it has carried."""
    if publication.topics:
        return list(publication.topics)
    return sorted(topic_slugs(session, publication), key=str.casefold)


def stranded_weekly_readers(session: Session, publication: Publication) -> dict[str, int]:
    """Weekly readers (pending or confirmed) whose day the publication no longer offers.

    Day → how many; empty when every weekly reader's day is still offered.
    """
    query = (
        select(Subscription.weekly_day, func.count())
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(
            MailingList.publication_id == publication.id,
            Subscription.cadence == Cadence.WEEKLY,
            Subscription.state.in_([SubscriptionState.PENDING, SubscriptionState.CONFIRMED]),
            Subscription.weekly_day.not_in(offered_days(publication) or [""]),
        )
        .group_by(Subscription.weekly_day)
    )
    return {str(day): int(count) for day, count in session.execute(query)}


def check_weekly_days(session: Session, publication: Publication, *, label: str) -> None:
    """Refuse roundup days that would leave weekly readers without their roundup.

    Called after a change of ``weekly_days`` in the same transaction; the error rolls
    the change back. ``label`` names the field as the user knows it.
    """
    stranded = stranded_weekly_readers(session, publication)
    if not stranded:
        return
    counts = ", ".join(f"{count} on {day}" for day, count in sorted(stranded.items()))
    total = sum(stranded.values())
    raise InvalidInputError(
        f"{label}: {total} weekly reader(s) chose a day that would no longer be offered "
        f"({counts}); keep those days, or ask those readers to choose another"
    )


def weekly_days_guard(
    session: Session, publication: Publication, label: Callable[[str], str]
) -> None:
    """``check_weekly_days`` as the publication commands' guard (``edit_command``)."""
    check_weekly_days(session, publication, label=label("weekly_days"))


def reading_of(cadence: Cadence, weekly_day: str | None) -> str:
    """A reader's cadence in words: "every edition", or "weekly roundup on Sunday"."""
    if cadence is Cadence.WEEKLY:
        return f"weekly roundup on {DAY_NAMES.get(weekly_day or '', weekly_day or '?')}"
    return "every edition"
