"""Languages: which tags are valid, which catalogs ship, and locale-aware formatting.

Everything a reader sees is written in English in the templates and code, marked for
translation (``{% trans %}`` / ``_()`` in templates, :func:`gettext_for` in code), and
translated from gettext catalogs under ``newsletter/locale/<language>/LC_MESSAGES/``:

- ``email.po`` — the emails (digest, alert, confirmation, welcome; HTML, text, subjects);
- ``web.po`` — public pages, feeds and error pages.

Both domains are merged into one catalog per language at run time. The compiled ``.mo``
files are committed beside the ``.po`` files and shipped in the wheel; ``make i18n``
re-extracts, updates and compiles them (docs/languages.md is the translator's guide).

A language tag is valid when CLDR knows it (``de``, ``pt-BR``, ``ar``); its chrome is
translated when a catalog exists for it or for its base language, and is English
otherwise. Dates and numbers always follow the tag through Babel.
"""

from __future__ import annotations

import gettext
import re
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Literal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_decimal
from babel.support import Translations

from newsletter.errors import InvalidInputError

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAINS = ("email", "web")
DEFAULT_LANGUAGE = "en"
# Languages whose catalogs ship with the product and have been reviewed.
SHIPPED: tuple[str, ...] = ("en", "de", "fr", "es", "ar", "ko")
# The pseudo-locale of the tests: every marked string comes back visibly transformed.
PSEUDO = "x-pseudo"
_ENGLISH_LONG_DATE = "EEEE d MMMM y"
_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
_PSEUDO_OPEN, _PSEUDO_CLOSE = "⟦", "⟧"


def check_language(tag: str, *, field: str = "language") -> str:
    """``tag`` in its canonical form (``pt-br`` → ``pt-BR``), or an error naming ``field``.

    A tag is valid when CLDR (through Babel) knows its language, script and region.
    """
    text = tag if isinstance(tag, str) and _TAG.fullmatch(tag) else "?"
    try:
        locale = Locale.parse(text.replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        raise InvalidInputError(
            f"{field}: unknown language tag {tag!r}; use a tag such as en, de, fr-CA or pt-BR"
        ) from None
    return str(locale).replace("_", "-")


def is_language(tag: str) -> bool:
    """Whether ``tag`` is a valid language tag (see :func:`check_language`)."""
    try:
        check_language(tag)
    except InvalidInputError:
        return False
    return True


@cache
def babel_locale(tag: str) -> Locale:
    """The Babel locale of a (valid) tag; the pseudo-locale formats as English."""
    if tag == PSEUDO:
        return Locale.parse(DEFAULT_LANGUAGE)
    return Locale.parse(tag.replace("_", "-"), sep="-")


def catalog_language(tag: str) -> str:
    """The shipped catalog ``tag`` uses: itself, its base language, or English."""
    if tag == PSEUDO:
        return PSEUDO
    locale = babel_locale(tag)
    for candidate in (str(locale).replace("_", "-"), locale.language):
        if candidate in SHIPPED:
            return candidate
    return DEFAULT_LANGUAGE


def direction(tag: str) -> Literal["ltr", "rtl"]:
    """``rtl`` for right-to-left languages (Arabic, Hebrew, Persian…), else ``ltr``."""
    return "rtl" if babel_locale(tag).text_direction == "rtl" else "ltr"


class PseudoTranslations(gettext.NullTranslations):
    """Every string marked ``⟦…⟧``: a rendered page with English outside the marks has a
    string nobody marked for translation."""

    def gettext(self, message: str) -> str:
        return pseudo(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return pseudo(msgid1 if n == 1 else msgid2)

    def pgettext(self, context: str, message: str) -> str:
        return pseudo(message)

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        return pseudo(msgid1 if n == 1 else msgid2)


def pseudo(message: str) -> str:
    """``message`` in the pseudo-locale: wrapped in marks, placeholders kept intact."""
    return f"{_PSEUDO_OPEN}{message}{_PSEUDO_CLOSE}"


@cache
def translations(tag: str) -> gettext.NullTranslations:
    """The merged ``email`` and ``web`` catalogs for ``tag`` (cached per tag).

    English, and a language without a shipped catalog, get the identity.
    """
    language = catalog_language(tag)
    if language == PSEUDO:
        return PseudoTranslations()
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    merged: Translations | None = None
    for domain in DOMAINS:
        found = Translations.load(str(LOCALE_DIR), [language.replace("-", "_")], domain)
        if not isinstance(found, Translations):  # no .mo for this domain (yet)
            continue
        if merged is None:
            merged = found
        else:
            merged.merge(found)
    return merged if merged is not None else gettext.NullTranslations()


def gettext_for(tag: str, message: str) -> str:
    """``message`` translated into ``tag``'s language (for text built in code)."""
    return translations(tag).gettext(message)


def ngettext_for(tag: str, singular: str, plural: str, n: int) -> str:
    """The plural form of ``singular`` / ``plural`` for ``n`` in ``tag``'s language."""
    return translations(tag).ngettext(singular, plural, n)


def long_date(value: date, tag: str = DEFAULT_LANGUAGE) -> str:
    """A date written out in full in ``tag``'s language.

    English keeps the house style of a newsroom dateline, "Wednesday 2 December 2026";
    every other language writes it as CLDR's full date does ("Mittwoch, 2. Dezember
    2026", "2026년 12월 2일 수요일").
    """
    locale = babel_locale(tag)
    pattern = _ENGLISH_LONG_DATE if locale.language == "en" else "full"
    return _babel_date(value, pattern, locale=locale)


def medium_date(value: date, tag: str = DEFAULT_LANGUAGE) -> str:
    """A date written short ("Dec 2, 2026"; "02.12.2026")."""
    return _babel_date(value, "medium", locale=babel_locale(tag))


def local_datetime(value: datetime, tag: str = DEFAULT_LANGUAGE) -> str:
    """An aware instant as the reader's locale writes it, with the zone of ``value``."""
    return _babel_datetime(value, "medium", tzinfo=value.tzinfo, locale=babel_locale(tag))


def number(value: int | float, tag: str = DEFAULT_LANGUAGE) -> str:
    """A number with the locale's grouping and decimal signs (1,234 / 1.234 / ١٬٢٣٤)."""
    return format_decimal(value, locale=babel_locale(tag))
