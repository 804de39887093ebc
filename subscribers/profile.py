"""Validation of what a subscriber tells us about themselves: name, locale, timezone, topics.

Shared by the web form, the JSON endpoint, the CLI and the CSV import, so every way in
refuses the same things with a message naming the field. A blank time zone is kept as
``None``: the reader gets each publication's own zone (and follows it if it changes),
rather than a "UTC" they never chose. A blank locale is kept as ``""`` for the same
reason: the reader gets each publication's default language (docs/readers.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from newsletter import i18n
from newsletter.errors import InvalidInputError
from newsletter.textrules import check_text

MAX_NAME = 200
MAX_TOPIC = 120
MAX_TOPICS = 50


@dataclass(frozen=True)
class Profile:
    """A validated name, locale and time zone (``None``: the publication's zone).

    ``locale`` is a canonical language tag, or ``""``: not chosen (each publication's
    default language)."""

    name: str = ""
    locale: str = ""
    timezone: str | None = None


@cache
def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def clean_zone(timezone: str) -> str | None:
    """An IANA zone name, ``None`` for a blank one, or ``InvalidInputError`` naming the field."""
    timezone = timezone.strip()
    if not timezone:
        return None
    if len(timezone) > 64 or not _known_zone(timezone):  # cached: an import repeats zones
        raise InvalidInputError(
            f"timezone: {timezone[:70]!r} is not an IANA time zone (e.g. 'Europe/London')"
        )
    return timezone


def clean_name(name: str) -> str:
    """A name with its spaces folded, or ``InvalidInputError`` naming the field."""
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise InvalidInputError(f"name: longer than {MAX_NAME} characters")
    return check_text(name, field="name", one_line=True)  # ESC, BEL ...: never in To:


@cache
def _canonical_language(tag: str) -> str | None:
    try:
        return i18n.check_language(tag)
    except InvalidInputError:
        return None


def clean_locale(locale: str) -> str:
    """A reader's language as a canonical tag, ``""`` for a blank one (not chosen), or
    ``InvalidInputError`` naming the field (``i18n.check_language``)."""
    locale = locale.strip()
    if not locale:
        return ""
    # Cached per tag: an import repeats a handful of tags a million times.
    canonical = _canonical_language(locale) if len(locale) <= 16 else None
    if canonical is None:
        i18n.check_language(locale[:40], field="locale")
        raise InvalidInputError(f"locale: {locale[:40]!r} is too long for a language tag")
    return canonical


def clean_profile(name: str = "", locale: str = "", timezone: str = "") -> Profile:
    """A ``Profile`` with defaults for empty values, or ``InvalidInputError`` naming the field.

    Checked in this order (name, locale, time zone): the first problem is the one named.
    """
    name = clean_name(name)
    return Profile(name=name, locale=clean_locale(locale), timezone=clean_zone(timezone))


def topic_keys(offered: Iterable[str]) -> dict[str, str]:
    """The offered topics by their comparison key (spaces folded, case-insensitive)."""
    return {" ".join(topic.split()).casefold(): topic for topic in offered}


def clean_topics(topics: Iterable[str], offered: Iterable[str] | Mapping[str, str]) -> list[str]:
    """Unique, trimmed topic names, each one of ``offered`` (case-insensitive, as spelled there).

    Nothing offered means nothing can be chosen: a reader's topics must be ones the
    publication has, or their choice would silently match no edition ever. ``offered``
    may be ``topic_keys(offered)`` already, for a caller that checks many rows.
    """
    by_key = offered if isinstance(offered, Mapping) else topic_keys(offered)
    chosen: dict[str, str] = {}
    for raw in topics:
        topic = " ".join(raw.split())
        if not topic:
            continue
        if len(topic) > MAX_TOPIC:
            raise InvalidInputError(f"topics: {topic[:40]!r}... is longer than {MAX_TOPIC}")
        if topic.casefold() not in by_key:
            if not by_key:
                raise InvalidInputError(
                    f"topics: {topic!r}: this publication has no topics to choose from yet"
                )
            raise InvalidInputError(f"topics: {topic!r} is not a topic of this publication")
        topic = by_key[topic.casefold()]
        chosen.setdefault(topic.casefold(), topic)
    if len(chosen) > MAX_TOPICS:
        raise InvalidInputError(f"topics: at most {MAX_TOPICS} topics")
    return list(chosen.values())


def clean_alert_topics(
    topics: Iterable[str], offered: Iterable[str] | Mapping[str, str]
) -> list[str]:
    """``clean_topics`` for the topics a reader wants alerts on (empty: every topic);
    a refusal names the ``alert_topics`` field."""
    try:
        return clean_topics(topics, offered)
    except InvalidInputError as exc:
        raise InvalidInputError("alert_topics:" + str(exc).removeprefix("topics:")) from None
