"""The briefing edit form: a briefing as form fields, and form fields back into a briefing.

One labelled input per field of the briefing format, so an error sits next to the
field it names and nothing depends on how a line happens to look. Text fields
follow two rules, written on the form:

- **Paragraphs** are separated by a blank line; the lines of one paragraph are joined
  with a space (a pasted, hard-wrapped paragraph stays one paragraph).
- **Repeated groups** ("What's behind the headline?", "Go deeper", "More on these
  topics") open each item with a line starting ``## `` (the sub-heading, the question,
  the topic's name); the paragraphs under it belong to it. A topic's description is
  one paragraph and may be left out.

The fields become the JSON import form and go through the same parser as an import
(``newsletter.briefings.parser.parse_json``): the same checks, derived title, warnings
and limits. Its errors (a JSON path) are given back as the form field and item they
concern, e.g. ``Go deeper, question 2: answer: ...``. An empty title is derived from
the lede again, with the same warning, so a derived title is never confirmed by
merely saving the form.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from newsletter.briefings.parser import parse_json
from newsletter.content.briefing import BriefingContent
from newsletter.errors import InvalidInputError
from newsletter.limits import DEFAULT_LIMITS, Limits

MAX_FIELD = 100_000  # characters in one form field: far beyond any briefing
FORM_FILE = "form"

LABELS = {
    "title": "Title",
    "slug": "Slug",
    "lede": "What's happened",
    "behind_the_headline": "What's behind the headline?",
    "what_the_papers_say": "What the papers say",
    "how_we_got_here": "How we got here",
    "questions": "Go deeper",
    "topics": "More on these topics",
    "url": "URL",
    "source": "Source",
    "published": "Published",
    "embargo": "Embargo",
    "expires": "Expires",
    "priority": "Priority",
}
PARAGRAPH_FIELDS = ("lede", "what_the_papers_say", "how_we_got_here")
# Field -> (the item's key, its paragraphs' key, what an item is called).
GROUP_FIELDS = {
    "behind_the_headline": ("heading", "paragraphs", "sub-heading"),
    "questions": ("question", "answer", "question"),
    "topics": ("name", "description", "topic"),
}
LINE_FIELDS = ("title", "url", "source", "published", "embargo", "expires", "priority")
MOMENT_FIELDS = ("published", "embargo", "expires")
FIELDS = ("title", *PARAGRAPH_FIELDS, *GROUP_FIELDS, *LINE_FIELDS[1:])

_ITEM = re.compile(r"^##(?!#)\s*(.*)$")
_PATH = re.compile(r"^" + FORM_FILE + r": \$(?P<path>[^:]*): (?P<message>.*)$", re.DOTALL)
_PART = re.compile(r"\.(\w+)|\[(\d+)\]")
_PRIORITY = re.compile(r"[+-]?[0-9]{1,4}")


@dataclass(frozen=True)
class FieldProblem:
    """One field of the form that needs attention, and why (for people)."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The problem as the API's ``fields`` entries."""
        return {"field": self.field, "message": self.message}


class FormInvalid(InvalidInputError):
    """The form cannot make a valid briefing; ``problems`` name each field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{LABELS[p.field]}: {p.message}" for p in problems))
        self.problems = problems


class _Problem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.problem = FieldProblem(field, message)


def _paragraph_text(paragraphs: tuple[str, ...] | list[str]) -> str:
    return "\n\n".join(paragraphs)


def fields_of(content: BriefingContent) -> dict[str, str]:
    """The form's fields prefilled from a briefing (the title left empty if it was derived)."""
    groups: dict[str, str] = {}
    for name, (head, body, _) in GROUP_FIELDS.items():
        blocks = []
        for item in getattr(content, name):
            paragraphs = getattr(item, body)
            paragraphs = [paragraphs] if isinstance(paragraphs, str) else list(paragraphs)
            blocks.append("\n\n".join([f"## {getattr(item, head)}", *filter(None, paragraphs)]))
        groups[name] = "\n\n".join(blocks)
    moments = {
        name: value.isoformat() if (value := getattr(content, name)) is not None else ""
        for name in MOMENT_FIELDS
    }
    return {
        "title": "" if content.title_derived else content.title,
        **{name: _paragraph_text(getattr(content, name)) for name in PARAGRAPH_FIELDS},
        **groups,
        "url": content.url or "",
        "source": content.source or "",
        **moments,
        "priority": str(content.priority),
    }


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs separated by blank lines; the lines of one paragraph joined by a space."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in [*_lines(text), ""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    return paragraphs


def split_items(text: str, field: str) -> list[tuple[int, str, list[str]]]:
    """``## `` items as (line number, item text, paragraphs under it); errors name the line."""
    _, _, noun = GROUP_FIELDS[field]
    items: list[tuple[int, str, list[str]]] = []
    body: list[str] = []

    def close() -> None:
        if items:
            items[-1][2].extend(split_paragraphs("\n".join(body)))
        body.clear()

    for number, line in enumerate(_lines(text), 1):
        match = _ITEM.match(line.strip())
        if match is None:
            if line.strip() and not items:
                raise _Problem(
                    field, f"line {number}: start with a line “## {noun}” before any paragraph"
                )
            body.append(line)
            continue
        close()
        if not match.group(1).strip():
            raise _Problem(field, f"line {number}: write the {noun} after “##”")
        items.append((number, match.group(1).strip(), []))
    close()
    return items


def _group(field: str, text: str) -> list[dict[str, Any]]:
    head, body, noun = GROUP_FIELDS[field]
    result: list[dict[str, Any]] = []
    for number, heading, paragraphs in split_items(text, field):
        if field == "topics":
            if len(paragraphs) > 1:
                raise _Problem(
                    field,
                    f"line {number}: the topic “{heading}” has {len(paragraphs)} paragraphs; "
                    "its description is one paragraph",
                )
            result.append({head: heading, body: paragraphs[0] if paragraphs else ""})
            continue
        if not paragraphs:
            raise _Problem(
                field, f"line {number}: the {noun} “{heading}” has no paragraph under it"
            )
        result.append({head: heading, body: paragraphs})
    return result


def _line_values(form: Mapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in LINE_FIELDS:
        value = " ".join(form.get(name, "").split())
        if not value:
            continue
        if name == "priority":
            if not _PRIORITY.fullmatch(value):
                raise _Problem(name, "a whole number from -100 to 100")
            data[name] = int(value)
        else:
            data[name] = value
    return data


def form_data(form: Mapping[str, str], slug: str | None) -> dict[str, Any]:
    """The JSON import form of the fields (``slug`` fixed, or derived when ``None``)."""
    problems: list[FieldProblem] = []
    data: dict[str, Any] = {}
    for name in FIELDS:
        if len(form.get(name, "")) > MAX_FIELD:
            problems.append(FieldProblem(name, f"at most {MAX_FIELD:,} characters"))
    if problems:
        raise FormInvalid(problems)
    for name in PARAGRAPH_FIELDS:
        data[name] = split_paragraphs(form.get(name, ""))
    if not data["lede"]:
        problems.append(FieldProblem("lede", "write at least one paragraph"))
    for name in GROUP_FIELDS:
        try:
            data[name] = _group(name, form.get(name, ""))
        except _Problem as exc:
            problems.append(exc.problem)
    try:
        data.update(_line_values(form))
    except _Problem as exc:
        problems.append(exc.problem)
    if problems:
        raise FormInvalid(problems)
    if slug is not None:
        data["slug"] = slug
    return data


def _describe(path: str, message: str) -> FieldProblem:
    """A JSON path error of the import parser as the form field and item it concerns."""
    parts: list[str | int] = [name if name else int(index) for name, index in _PART.findall(path)]
    field = str(parts[0]) if parts and str(parts[0]) in LABELS else "lede"
    where: list[str] = []
    rest = parts[1:]
    if field in GROUP_FIELDS and rest and isinstance(rest[0], int):
        where.append(f"{GROUP_FIELDS[field][2]} {rest[0] + 1}")
        rest = rest[1:]
        if rest and isinstance(rest[0], str):
            where.append(rest[0])
            rest = rest[1:]
    if rest and isinstance(rest[0], int):
        where.append(f"paragraph {rest[0] + 1}")
    prefix = ", ".join(where)
    return FieldProblem(field, f"{prefix}: {message}" if prefix else message)


def parse_form(
    form: Mapping[str, str], slug: str | None, limits: Limits = DEFAULT_LIMITS
) -> BriefingContent:
    """The briefing the form describes, checked as an import is; ``FormInvalid`` otherwise."""
    data = form_data(form, slug)
    try:
        return parse_json(json.dumps(data, ensure_ascii=False), filename=FORM_FILE, limits=limits)
    except InvalidInputError as exc:
        match = _PATH.match(str(exc))
        if match is None:  # not a field's fault: say it on the first field
            raise FormInvalid([FieldProblem("lede", str(exc))]) from None
        raise FormInvalid([_describe(match["path"], match["message"])]) from None


@dataclass(frozen=True)
class FieldChange:
    """What changed in one field between two revisions: the blocks taken out and put in."""

    field: str
    label: str
    removed: tuple[str, ...]
    added: tuple[str, ...]


def changes(before: BriefingContent, after: BriefingContent) -> list[FieldChange]:
    """The fields that differ, block by block (paragraphs, items, values), in form order."""
    old = {**fields_of(before), "title": before.title}
    new = {**fields_of(after), "title": after.title}
    found: list[FieldChange] = []
    for name in FIELDS:
        if old[name] == new[name]:
            continue
        a = old[name].split("\n\n") if old[name] else []
        b = new[name].split("\n\n") if new[name] else []
        if name in GROUP_FIELDS:  # an item and its paragraphs are one block
            a, b = _items(old[name]), _items(new[name])
        removed: list[str] = []
        added: list[str] = []
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
            if tag != "equal":
                removed += a[i1:i2]
                added += b[j1:j2]
        found.append(FieldChange(name, LABELS[name], tuple(removed), tuple(added)))
    return found


def _items(text: str) -> list[str]:
    return ["## " + part.strip() for part in ("\n" + text).split("\n## ") if part.strip()]
