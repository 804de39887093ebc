"""The lines of a plain-text briefing: what a heading is, and where a reading stands.

The format itself is described in ``newsletter.briefings.textform``. ``LineReader``
holds one reading's state (the fields found so far, the line of each, the warnings)
and refuses input naming the file and the line; the header and section readers
build on it.
"""

from __future__ import annotations

import difflib
from typing import Any, NoReturn

from newsletter.briefings import derive
from newsletter.briefings.derive import Loc
from newsletter.content.briefing import ImportWarning
from newsletter.errors import InvalidInputError

HEADINGS = {
    "what's happened": "lede",
    "what's behind the headline": "behind_the_headline",
    "what the papers say": "what_the_papers_say",
    "how we got here": "how_we_got_here",
    "go deeper": "questions",
    "more on these topics": "topics",
}
SECTION_NAMES = {"lede": "What's happened", **derive.OPTIONAL_SECTIONS}
ORDER = tuple(SECTION_NAMES)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "′": "'", "`": "'"})
EXPECTED_START = (
    "expected the heading “What's happened” (optionally after a header block of "
    "“Key: value” lines and a blank line)"
)

Line = tuple[int, str]

# A line this short that matches a heading this closely is a mistyped heading.
_NEAR_HEADING_WORDS = 6
_NEAR_HEADING_RATIO = 0.85


def heading_key(line: str) -> str | None:
    """The section a heading line opens, or ``None`` if the line is not a known heading."""
    text = " ".join(line.translate(_APOSTROPHES).lower().split())
    return HEADINGS.get(text.removesuffix("?").rstrip())


def near_heading(line: str) -> str | None:
    """The known heading a short line nearly spells (a typo), or ``None``."""
    text = " ".join(line.translate(_APOSTROPHES).lower().split()).removesuffix("?").rstrip()
    if len(text.split()) > _NEAR_HEADING_WORDS:
        return None
    match = difflib.get_close_matches(text, HEADINGS, n=1, cutoff=_NEAR_HEADING_RATIO)
    return SECTION_NAMES[HEADINGS[match[0]]] if match else None


class LineReader:
    """One reading of one text; collects the fields and the line of every element."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines: dict[Loc, int] = {}
        self.notes: list[ImportWarning] = []
        self.data: dict[str, Any] = {"title": None, "slug": None}

    def fail(self, line: int, message: str) -> NoReturn:
        """Refuse the input, naming the file and the line."""
        raise InvalidInputError(f"{self.filename}:{line}: {message}")

    def line_of(self, loc: Loc) -> int | None:
        """The line of a field location, or of the nearest enclosing one that has a line."""
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None

    def where(self, loc: Loc) -> str:
        """The error prefix for a field location: file, line and field path."""
        return f"{self.filename}:{self.line_of(loc) or 1}: {derive.field_path(loc)[2:]}"
