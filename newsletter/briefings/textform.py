"""The plain-text briefing format: header block, fixed section headings, one paragraph a line.

Reading rules:

- Lines end with ``\\n``, ``\\r\\n`` or ``\\r``; each line is stripped; blank lines are
  ignored everywhere. Control characters (other than tab) and lone surrogates are refused,
  because no email, web page or feed can carry them.
- A **header block** may open the file: ``Key: value`` lines (keys ``Title``, ``Slug``,
  ``Topics``, ``Published``, ``Source``, ``URL``, ``Priority``, any case), ended by a blank
  line or by the ``What's happened`` heading. ``Published`` must carry a UTC offset
  (``2024-05-01T07:30:00+02:00`` or ``...Z``): a naive time is refused rather than guessed,
  because a wrong zone would put the briefing in the wrong edition.
- **Headings** are whole lines matched case-insensitively, with or without the final ``?``,
  with straight or curly apostrophes and any spacing. A known heading is always a heading;
  it must come in the format's order and only once.
- **Unknown headings.** Nothing marks a line as a heading, so an unknown heading is
  recognised where a heading is required (the first line after the header block must be
  ``What's happened``) and wherever a short line nearly spells a known heading (``What the
  paper say``): that is refused with a suggestion rather than read as content, because a
  mistyped heading would otherwise silently fold a whole section into the one above.
- **What's behind the headline?**: a *sub-heading* is a line of at most 12 words and 120
  characters that does not end with punctuation; every other line is a paragraph of the
  sub-heading above it. The section must open with a sub-heading, and every sub-heading
  needs at least one paragraph.
- **Go deeper**: an optional ``Common question(s)`` label, then items each opened by a line
  holding only ``-`` (``–`` and ``—`` too): a question ending with ``?``, then its answer.
- **More on these topics**: items each opened by ``-``, holding exactly one paragraph. The
  topic name is derived from the paragraph (see ``newsletter.briefings.derive``). A
  ``Topics:`` header overrides the names by position: the n-th name names the n-th
  paragraph; paragraphs beyond the list keep their derived names, and names beyond the
  paragraphs become topics with an empty description.
- Text stays exactly as written: no markup is interpreted, so ``&``, ``<`` and quotes are
  plain characters that the renderers escape.
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime
from typing import Any, NoReturn

from newsletter.briefings import derive
from newsletter.briefings.derive import Loc, quote
from newsletter.content.briefing import BriefingContent, ImportWarning, WarningCode
from newsletter.errors import InvalidInputError
from newsletter.parsing import is_slug

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
HEADER_KEYS = {
    "title": "Title",
    "slug": "Slug",
    "topics": "Topics",
    "published": "Published",
    "source": "Source",
    "url": "URL",
    "priority": "Priority",
}

_BAD_CHAR = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "′": "'", "`": "'"})
_HEADER_LINE = re.compile(r"([A-Za-z][A-Za-z _-]{0,29}?)\s*:\s*(.*)")
_URL = re.compile(r"https?://\S+")
_PRIORITY = re.compile(r"[+-]?[0-9]{1,4}")
_QUESTION_END = re.compile(r"\?[\"'”’»)\]]*$")
_BULLETS = frozenset("-–—")
_LABELS = frozenset({"common question", "common questions"})
_SUBHEADING_WORDS = 12
_SUBHEADING_CHARS = 120
_ALLOWED_KEYS = ", ".join(HEADER_KEYS.values())
_EXPECTED_START = (
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


def is_subheading(line: str) -> bool:
    """Whether a line of "What's behind the headline?" reads as a sub-heading."""
    return (
        len(line) <= _SUBHEADING_CHARS
        and len(line.split()) <= _SUBHEADING_WORDS
        and not re.search(r"[.!?…:;,][\"'”’»)\]]*$", line)
    )


class _TextParser:
    """One parse of one text; collects the fields and the line of every element."""

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

    # -- the whole file ------------------------------------------------------------------

    def parse(self, text: str) -> BriefingContent:
        raw = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
        lines: list[Line] = []
        for number, line in enumerate(raw, 1):
            bad = _BAD_CHAR.search(line)
            if bad:
                code = ord(bad.group())
                self.fail(
                    number, f"character U+{code:04X} at column {bad.start() + 1} is not allowed"
                )
            if line.strip():
                lines.append((number, line.strip()))
        if not lines:
            self.fail(1, f"the file is empty; {_EXPECTED_START}")
        rest = self.header(lines)
        if not rest:
            self.fail(lines[-1][0], f"{_EXPECTED_START}, found the end of the file")
        number, first = rest[0]
        if heading_key(first) != "lede":
            self.fail(number, f"{_EXPECTED_START}, found the heading {quote(first)}")
        sections = self.split(rest)
        self.paragraphs("lede", sections)
        self.behind(sections.get("behind_the_headline"))
        self.paragraphs("what_the_papers_say", sections)
        self.paragraphs("how_we_got_here", sections)
        self.questions(sections.get("questions"))
        self.topics(sections.get("topics"))
        return derive.complete(
            self.data, where=self.where, line_of=self.line_of, warnings=self.notes
        )

    def split(self, lines: list[Line]) -> dict[str, tuple[int, list[Line]]]:
        """Lines grouped by section, checking the headings' order."""
        current = "lede"
        sections: dict[str, tuple[int, list[Line]]] = {"lede": (lines[0][0], [])}
        for number, line in lines[1:]:
            key = heading_key(line)
            if key is None:
                suggestion = near_heading(line)
                if suggestion is not None:
                    self.fail(
                        number, f"unknown heading {quote(line)}: did you mean “{suggestion}”?"
                    )
                sections[current][1].append((number, line))
                continue
            name = SECTION_NAMES[key]
            if key in sections:
                first = sections[key][0]
                self.fail(number, f"the heading “{name}” appears twice (first on line {first})")
            if ORDER.index(key) < ORDER.index(current):
                self.fail(
                    number,
                    f"the heading “{name}” is misplaced: it must come before "
                    f"“{SECTION_NAMES[current]}” (sections go in the order "
                    + ", ".join(f"“{n}”" for n in SECTION_NAMES.values())
                    + ")",
                )
            sections[key] = (number, [])
            current = key
        return sections

    # -- header block --------------------------------------------------------------------

    def header(self, lines: list[Line]) -> list[Line]:
        """Read the header block if there is one; return the lines after it."""
        number, first = lines[0]
        if heading_key(first) is not None:
            return lines
        if not _HEADER_LINE.fullmatch(first):
            self.fail(number, f"{_EXPECTED_START}, found {quote(first)}")
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
                "digits joined by single hyphens, e.g. “rail-strike-ends”",
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
        elif key == "published":
            self.data[key] = self.published(value, number)
        elif key == "topics":
            self.data["topic_names"] = self.topic_names(value, number)
        else:
            self.data[key] = value

    def published(self, value: str, number: int) -> datetime:
        """The ``Published`` header as an aware datetime."""
        example = "e.g. 2024-05-01T07:30:00+02:00"
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(
                number,
                f"header “Published” {quote(value)} is not an ISO 8601 date and time, {example}",
            )
        if moment.tzinfo is None or moment.utcoffset() is None:
            self.fail(
                number,
                f"header “Published” {quote(value)} needs a time and a UTC offset, {example}",
            )
        return moment

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

    # -- sections ------------------------------------------------------------------------

    def _no_bullets(self, lines: list[Line], section: str) -> None:
        """Refuse item markers in a section made of paragraphs."""
        for number, line in lines:
            if line in _BULLETS:
                self.fail(
                    number,
                    f"a line holding only “-” opens an item in “Go deeper” or “More on these "
                    f"topics”; expected a paragraph of “{SECTION_NAMES[section]}”",
                )

    def _empty(self, heading_line: int, section: str, what: str) -> NoReturn:
        self.fail(heading_line, f"the heading “{SECTION_NAMES[section]}” has no {what} under it")

    def paragraphs(self, key: str, sections: dict[str, tuple[int, list[Line]]]) -> None:
        """A section made of paragraphs only."""
        self.data[key] = []
        if key not in sections:
            return
        heading_line, lines = sections[key]
        if not lines:
            self._empty(heading_line, key, "paragraph")
        self._no_bullets(lines, key)
        for i, (number, line) in enumerate(lines):
            self.lines[(key, i)] = number
            self.data[key].append(line)

    def behind(self, section: tuple[int, list[Line]] | None) -> None:
        """Sub-headings, each followed by its paragraphs."""
        key = "behind_the_headline"
        subs: list[dict[str, Any]] = []
        self.data[key] = subs
        if section is None:
            return
        heading_line, lines = section
        if not lines:
            self._empty(heading_line, key, "sub-heading")
        self._no_bullets(lines, key)
        for number, line in lines:
            if is_subheading(line):
                self._check_sub(subs)
                self.lines[(key, len(subs))] = number
                subs.append({"heading": line, "paragraphs": []})
            elif not subs:
                self.fail(
                    number,
                    f"expected a sub-heading (a short line of at most {_SUBHEADING_WORDS} words "
                    f"without final punctuation) to open “{SECTION_NAMES[key]}”, "
                    f"found {quote(line)}",
                )
            else:
                self.lines[(key, len(subs) - 1, "paragraphs", len(subs[-1]["paragraphs"]))] = number
                subs[-1]["paragraphs"].append(line)
        self._check_sub(subs)

    def _check_sub(self, subs: list[dict[str, Any]]) -> None:
        if subs and not subs[-1]["paragraphs"]:
            number = self.lines[("behind_the_headline", len(subs) - 1)]
            self.fail(
                number,
                f"the sub-heading {quote(subs[-1]['heading'])} has no paragraph after it "
                "(a short line without final punctuation reads as a sub-heading)",
            )

    def questions(self, section: tuple[int, list[Line]] | None) -> None:
        """Go deeper: ``-`` items of a question and its answer paragraphs."""
        key = "questions"
        items: list[dict[str, Any]] = []
        self.data[key] = items
        if section is None:
            return
        heading_line, lines = section
        if lines and " ".join(lines[0][1].lower().rstrip(":").split()) in _LABELS:
            lines = lines[1:]
        if not lines:
            self._empty(heading_line, key, "question")
        for number, line in lines:
            if line in _BULLETS:
                self._check_question(items)
                self.lines[(key, len(items))] = number
                items.append({"question": None, "answer": []})
            elif not items:
                self.fail(
                    number,
                    f"expected a line holding only “-” to open a question in “Go deeper”, "
                    f"found {quote(line)}",
                )
            elif items[-1]["question"] is None:
                if not _QUESTION_END.search(line):
                    self.fail(number, f"expected a question ending with “?”, found {quote(line)}")
                self.lines[(key, len(items) - 1, "question")] = number
                items[-1]["question"] = line
            else:
                self.lines[(key, len(items) - 1, "answer", len(items[-1]["answer"]))] = number
                items[-1]["answer"].append(line)
        self._check_question(items)

    def _check_question(self, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        item = items[-1]
        if item["question"] is None:
            self.fail(
                self.lines[("questions", len(items) - 1)],
                "this “-” item has nothing after it; expected a question ending with “?”",
            )
        if not item["answer"]:
            self.fail(
                self.lines[("questions", len(items) - 1, "question")],
                f"the question {quote(item['question'])} has no answer after it",
            )

    def topics(self, section: tuple[int, list[Line]] | None) -> None:
        """More on these topics: ``-`` items of one paragraph, named as documented above."""
        key = "topics"
        paragraphs: list[Line] = []
        bullets: list[int] = []
        if section is not None:
            heading_line, lines = section
            if not lines:
                self._empty(heading_line, key, "topic")
            for number, line in lines:
                if line in _BULLETS:
                    if len(paragraphs) < len(bullets):
                        self._empty_topic(bullets[-1])
                    bullets.append(number)
                elif not bullets:
                    self.fail(
                        number,
                        "expected a line holding only “-” to open a topic in “More on these "
                        f"topics”, found {quote(line)}",
                    )
                elif len(paragraphs) == len(bullets):
                    self.fail(
                        number,
                        f"a topic holds one paragraph; the topic opened on line {bullets[-1]} "
                        "already has one",
                    )
                else:
                    paragraphs.append((number, line))
            if len(paragraphs) < len(bullets):
                self._empty_topic(bullets[-1])
        self.data[key] = self.name_topics(paragraphs)

    def _empty_topic(self, number: int) -> NoReturn:
        self.fail(
            number, "this “-” item has nothing after it; expected a paragraph describing a topic"
        )

    def name_topics(self, paragraphs: list[Line]) -> list[dict[str, str]]:
        """Topic names: the header's by position, else derived from each paragraph."""
        given: list[str] = self.data.pop("topic_names", [])
        topics: list[dict[str, str]] = []
        for i, (number, description) in enumerate(paragraphs):
            self.lines[("topics", i)] = number
            if i < len(given):
                topics.append({"name": given[i], "description": description})
                continue
            name, certain = derive.topic_name(description)
            if not name:
                self.fail(number, "expected the topic's name at the start of its paragraph")
            if not certain:
                self.notes.append(
                    ImportWarning(
                        code=WarningCode.DERIVED_TOPICS,
                        message="Could not tell where the topic name ends in "
                        f"{quote(description)}; used {quote(name)}. Name the topics in a "
                        "“Topics:” header.",
                        line=number,
                    )
                )
            topics.append({"name": name, "description": description})
        for name in given[len(paragraphs) :]:
            self.lines[("topics", len(topics))] = self.lines[("topics",)]
            topics.append({"name": name, "description": ""})
        return topics


def parse_text(text: str, *, filename: str = "<text>") -> BriefingContent:
    """Parse a plain-text briefing; errors name the file and line."""
    return _TextParser(filename).parse(text)
