"""The plain-text briefing format: header block, fixed section headings, one paragraph a line.

Reading rules:

- Lines end with ``\\n``, ``\\r\\n`` or ``\\r``; each line is stripped; blank lines are
  ignored everywhere. Control characters (other than tab) and lone surrogates are refused,
  because no email, web page or feed can carry them.
- A **header block** may open the file: ``Key: value`` lines (keys ``Title``, ``Slug``,
  ``Topics``, ``Published``, ``Embargo``, ``Expires``, ``Source``, ``URL``, ``Priority``,
  any case), ended by a blank line or by the ``What's happened`` heading. ``Published``,
  ``Embargo`` and ``Expires`` are ISO 8601 dates and times that must carry a UTC offset
  (``2024-05-01T07:30:00+02:00`` or ``...Z``): a naive time is refused rather than guessed,
  because a wrong zone would put the briefing in the wrong edition or lift an embargo
  early. ``Expires`` must be later than ``Embargo``.
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

from newsletter.briefings import derive
from newsletter.briefings.derive import quote
from newsletter.briefings.textheader import HeaderReader
from newsletter.briefings.textlines import (
    EXPECTED_START,
    ORDER,
    SECTION_NAMES,
    Line,
    heading_key,
    near_heading,
)
from newsletter.briefings.textsections import SectionReader
from newsletter.content.briefing import BriefingContent
from newsletter.limits import DEFAULT_LIMITS, Limits
from newsletter.textrules import BAD_CHARACTER

_BAD_CHAR = BAD_CHARACTER  # the one rule for stored text (newsletter.textrules)


class _TextParser(HeaderReader, SectionReader):
    """One parse of one text: the header block, then the sections in order."""

    # -- the whole file ------------------------------------------------------------------

    def parse(self, text: str, limits: Limits = DEFAULT_LIMITS) -> BriefingContent:
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
            self.fail(1, f"the file is empty; {EXPECTED_START}")
        rest = self.header(lines)
        if not rest:
            self.fail(lines[-1][0], f"{EXPECTED_START}, found the end of the file")
        number, first = rest[0]
        if heading_key(first) != "lede":
            self.fail(number, f"{EXPECTED_START}, found the heading {quote(first)}")
        sections = self.split(rest)
        self.paragraphs("lede", sections)
        self.behind(sections.get("behind_the_headline"))
        self.paragraphs("what_the_papers_say", sections)
        self.paragraphs("how_we_got_here", sections)
        self.questions(sections.get("questions"))
        self.topics(sections.get("topics"))
        return derive.complete(
            self.data, where=self.where, line_of=self.line_of, warnings=self.notes, limits=limits
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


def parse_text(
    text: str, *, filename: str = "<text>", limits: Limits = DEFAULT_LIMITS
) -> BriefingContent:
    """Parse a plain-text briefing; errors name the file and line; ``limits`` bound it."""
    derive.check_size(len(text.encode("utf-8", "surrogatepass")), f"{filename}:1", limits)
    return _TextParser(filename).parse(text, limits)
