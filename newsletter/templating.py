"""Where the Jinja2 templates are, the environments every renderer uses, and their filters.

Every environment raises on undefined variables (``StrictUndefined``); HTML, MJML and
XML templates are autoescaped, plain-text templates (``.txt``) are not. The filters
(``wrap``, ``underline``, ``tint``, ``long_date``, ``medium_date``, ``number``,
``html_datetime``) are registered on every environment.

There is one environment per language (``environment(language="de")``): Jinja2's i18n
extension is installed with that language's catalog (:mod:`newsletter.i18n`), so
``{% trans %}`` blocks and ``_()`` translate, and the date and number filters follow the
language. The global ``text_direction`` is ``"rtl"`` or ``"ltr"``.
Text filters never mark their output safe: in an HTML template autoescape still
applies to what they return.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any
from unicodedata import east_asian_width

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from newsletter import i18n
from newsletter.errors import InvalidInputError

_PACKAGED = Path(__file__).parent / "templates"
_CHECKOUT = Path(__file__).parent.parent / "templates"

# The wheel installs the top-level ``templates/`` folder as ``newsletter/templates``;
# a checkout (or an editable install) reads it in place.
TEMPLATES_DIR = _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT
WIDTH = 78
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")


def columns(text: str) -> int:
    """How many columns ``text`` takes in a fixed-width font: Hangul, kana and Han
    characters take two (Unicode's East Asian Wide and Fullwidth)."""
    if text.isascii():
        return len(text)
    return sum(2 if east_asian_width(char) in "WF" else 1 for char in text)


def wrap(text: str, width: int = WIDTH, indent: str = "", hanging: str | None = None) -> str:
    """Wrap one paragraph at ``width`` columns without ever breaking a word or URL.

    Lines break at spaces only, which is also how Korean breaks (between words); a
    wide character counts two columns, so Korean lines are as wide as English ones.
    """
    # Greedy fill, as textwrap does without word breaking, but several times faster:
    # the text part wraps every paragraph of an edition and the budget is 3 ms.
    text = str(text)
    words = text.split()
    if not words:
        return ""
    rest = indent if hanging is None else hanging
    # Counting columns only where a wide character can be: ASCII keeps its fast path.
    size_of = len if text.isascii() and indent.isascii() and rest.isascii() else columns
    lines: list[str] = []
    line = indent + words[0]
    used = size_of(line)
    for word in words[1:]:
        size = size_of(word)
        if used + 1 + size <= width:
            line += " " + word
            used += 1 + size
        else:
            lines.append(line)
            line = rest + word
            used = size_of(line)
    lines.append(line)
    return "\n".join(lines)


def underline(text: str, char: str = "-") -> str:
    """The text wrapped, then a line of ``char`` as wide as its widest line."""
    wrapped = wrap(text)
    return f"{wrapped}\n{char * max((columns(line) for line in wrapped.splitlines()), default=0)}"


def check_colour(value: str, *, field: str = "accent_color") -> str:
    """Return ``value`` if it is a #rgb / #rrggbb colour, else raise naming ``field``."""
    if not _HEX.match(value):
        raise InvalidInputError(f"{field}: expected a colour like #1a56db, got {value!r}")
    if len(value) == 4:
        value = "#" + "".join(c * 2 for c in value[1:])
    return value.lower()


def tint(colour: str, amount: float = 0.88) -> str:
    """``colour`` mixed with white (``amount`` 0 = unchanged, 1 = white), as #rrggbb."""
    base = check_colour(colour)
    channels = (int(base[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in channels)


def _luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a #rrggbb colour."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_on(colour: str, light: str = "#ffffff", dark: str = "#1f2328") -> str:
    """Whichever of ``light`` and ``dark`` text contrasts more with ``colour`` (a button's
    label on the publication's accent: white on dark accents, near-black on light ones)."""
    background = _luminance(check_colour(colour))

    def ratio(text: str) -> float:
        lighter, darker = sorted((background, _luminance(check_colour(text))), reverse=True)
        return (lighter + 0.05) / (darker + 0.05)

    return light if ratio(light) >= ratio(dark) else dark


def html_datetime(value: datetime) -> str:
    """An instant as HTML's ``<time datetime>`` takes it: UTC, whole seconds, ``Z``.

    HTML allows at most three digits of a second; ``isoformat()`` writes six.
    A naive value is taken as UTC (the database's are aware).
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def long_date(value: date, language: str = i18n.DEFAULT_LANGUAGE) -> str:
    """A date written out in full in ``language`` (CLDR through Babel)."""
    return i18n.long_date(value, language)


FILTERS: dict[str, Callable[..., Any]] = {
    "wrap": wrap,
    "underline": underline,
    "tint": tint,
    "long_date": long_date,
    "html_datetime": html_datetime,
}


@cache
def environment(root: Path = TEMPLATES_DIR, language: str = i18n.DEFAULT_LANGUAGE) -> Environment:
    """The shared Jinja2 environment over ``root`` in ``language`` (cached: templates
    compile once per language). ``language`` must be a valid tag (``i18n.check_language``)
    or ``i18n.PSEUDO``."""
    env = Environment(
        loader=FileSystemLoader(root),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html", "mjml", "xml"),
            disabled_extensions=("txt",),
            default_for_string=True,
            default=True,
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(FILTERS)
    env.filters["long_date"] = partial(i18n.long_date, tag=language)
    env.filters["medium_date"] = partial(i18n.medium_date, tag=language)
    env.filters["number"] = partial(i18n.number, tag=language)
    env.globals["text_direction"] = i18n.direction(language)
    return env
