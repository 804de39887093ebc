"""The header block of a plain-text briefing: ``Key: value`` lines before the first heading.

Keys are ``Title``, ``Slug``, ``Topics``, ``Published``, ``Embargo``, ``Expires``,
``Source``, ``URL`` and ``Priority``, in any case; see ``newsletter.briefings.textform``
for the rules.
"""

from __future__ import annotations

import re
from datetime import datetime

from newsletter.briefings.derive import quote
from newsletter.briefings.textlines import EXPECTED_START, Line, LineReader, heading_key
from newsletter.parsing import is_slug

HEADER_KEYS = {
    "title": "Title",
    "slug": "Slug",
    "topics": "Topics",
    "published": "Published",
    "embargo": "Embargo",
    "expires": "Expires",
    "source": "Source",
    "url": "URL",
    "priority": "Priority",
}

_HEADER_LINE = re.compile(r"([A-Za-z][A-Za-z _-]{0,29}?)\s*:\s*(.*)")
_URL = re.compile(r"https?://\S+")
_PRIORITY = re.compile(r"[+-]?[0-9]{1,4}")
_ALLOWED_KEYS = ", ".join(HEADER_KEYS.values())
_MOMENTS = frozenset({"published", "embargo", "expires"})


class HeaderReader(LineReader):
    """Reads the header block into the content fields it names."""

    def header(self, lines: list[Line]) -> list[Line]:
        """Read the header block if there is one; return the lines after it."""
        number, first = lines[0]
        if heading_key(first) is not None:
            return lines
        if not _HEADER_LINE.fullmatch(first):
            self.fail(number, f"{EXPECTED_START}, found {quote(first)}")
        seen: dict[str, int] = {}
        index = 0
        while index < len(lines):
            number, line = lines[index]
            if heading_key(line) is not None:
                return lines[index:]
            match = _HEADER_LINE.fullmatch(line)
            if not match:
                self.fail(
                    number,
                    "expected a “Key: value” header line or a blank line ending the header, "
                    f"found {quote(line)}",
                )
            key = " ".join(match[1].lower().split())
            if key not in HEADER_KEYS:
                self.fail(number, f"unknown header key “{match[1]}”; allowed keys: {_ALLOWED_KEYS}")
            name = HEADER_KEYS[key]
            if key in seen:
                self.fail(number, f"header “{name}” given twice (first on line {seen[key]})")
            seen[key] = number
            value = match[2].strip()
            if not value:
                self.fail(number, f"header “{name}” is empty")
            self.header_value(key, value, number)
            index += 1
            # Blank lines are not in ``lines``: a gap in the numbers is the blank line.
            if index < len(lines) and lines[index][0] > number + 1:
                return lines[index:]
        return []

    def header_value(self, key: str, value: str, number: int) -> None:
        """Check one header value and store it as a content field."""
        self.lines[(key,)] = number
        if key == "slug" and not is_slug(value, max_length=120):
            self.fail(
                number,
                f"header “Slug” {quote(value)} must be at most 120 lowercase ASCII letters and "
                "digits joined by single hyphens, not all digits (that would be an id), "
                "e.g. “rail-strike-ends”",
            )
        if key == "url" and not _URL.fullmatch(value):
            self.fail(number, f"header “URL” {quote(value)} must be an http:// or https:// address")
        if key == "priority":
            if not _PRIORITY.fullmatch(value) or not -100 <= int(value) <= 100:
                self.fail(
                    number,
                    f"header “Priority” {quote(value)} must be a whole number from -100 to 100",
                )
            self.data[key] = int(value)
        elif key in _MOMENTS:
            self.data[key] = self.moment(HEADER_KEYS[key], value, number)
            self._check_expiry()
        elif key == "topics":
            self.data["topic_names"] = self.topic_names(value, number)
        else:
            self.data[key] = value

    def moment(self, name: str, value: str, number: int) -> datetime:
        """A date-and-time header (``Published``, ``Embargo``, ``Expires``) as an aware datetime.

        A time without a UTC offset is refused rather than guessed: a wrong zone would
        put the briefing in the wrong edition, or lift an embargo hours early.
        """
        example = "e.g. 2024-05-01T07:30:00+02:00 or 2024-05-01T05:30:00Z"
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(
                number,
                f"header “{name}” {quote(value)} is not an ISO 8601 date and time, {example}",
            )
        if moment.tzinfo is None or moment.utcoffset() is None:
            self.fail(
                number,
                f"header “{name}” {quote(value)} needs a time and a UTC offset, {example}",
            )
        return moment

    def _check_expiry(self) -> None:
        """Once both are read: ``Expires`` must come after ``Embargo``."""
        embargo, expires = self.data.get("embargo"), self.data.get("expires")
        if embargo is not None and expires is not None and expires <= embargo:
            self.fail(
                self.lines[("expires",)],
                f"header “Expires” ({expires.isoformat()}) must be later than “Embargo” "
                f"({embargo.isoformat()}, line {self.lines[('embargo',)]})",
            )

    def topic_names(self, value: str, number: int) -> list[str]:
        """The ``Topics`` header as a list of distinct, non-empty names."""
        names = [" ".join(name.split()) for name in value.split(",")]
        seen: set[str] = set()
        for name in names:
            if not name:
                self.fail(number, "header “Topics” has an empty name (check the commas)")
            if name.casefold() in seen:
                self.fail(number, f"header “Topics” lists {quote(name)} twice")
            seen.add(name.casefold())
        return names
