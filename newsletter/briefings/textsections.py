"""The sections of a plain-text briefing, each under its heading.

Paragraph sections, the sub-headings of "What's behind the headline?", the
questions of "Go deeper" and the topics of "More on these topics"; see
``newsletter.briefings.textform`` for the rules.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from newsletter.briefings import derive
from newsletter.briefings.derive import quote
from newsletter.briefings.textlines import SECTION_NAMES, Line, LineReader
from newsletter.content.briefing import ImportWarning, WarningCode

_QUESTION_END = re.compile(r"\?[\"'”’»)\]]*$")
_BULLETS = frozenset("-–—")
_LABELS = frozenset({"common question", "common questions"})
_SUBHEADING_WORDS = 12
_SUBHEADING_CHARS = 120


def is_subheading(line: str) -> bool:
    """Whether a line of "What's behind the headline?" reads as a sub-heading."""
    return (
        len(line) <= _SUBHEADING_CHARS
        and len(line.split()) <= _SUBHEADING_WORDS
        and not re.search(r"[.!?…:;,][\"'”’»)\]]*$", line)
    )


class SectionReader(LineReader):
    """Reads the body of every section into the content fields."""

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
