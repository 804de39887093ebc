"""The JSON import form of a briefing: its model, its JSON Schema and its parser.

The form has the fields of :class:`~newsletter.content.briefing.BriefingContent` except
``warnings`` and ``title_derived``. ``title``, ``slug`` and each topic's ``name`` may be
left out: they are derived as for plain text, with the same editor warnings. Unknown
fields, duplicate keys, ``NaN`` and a naive ``published``, ``embargo`` or ``expires`` time
are refused, and so is an ``expires`` not later than the ``embargo``. Errors name the
file and the JSON path of the first problem, e.g. ``$.questions[0].answer``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, NoReturn

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from newsletter.briefings import derive
from newsletter.briefings.derive import Loc, field_path, quote
from newsletter.content.briefing import (
    EMBARGO_HELP,
    EXPIRES_HELP,
    BriefingContent,
    ImportWarning,
    WarningCode,
    check_expiry,
)
from newsletter.errors import InvalidInputError
from newsletter.limits import DEFAULT_LIMITS, Limits, json_too_deep
from newsletter.parsing import SLUG_PATTERN
from newsletter.schemahints import text
from newsletter.textrules import BAD_CHARACTER

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_BAD_CHAR = BAD_CHARACTER  # the one rule for stored text (newsletter.textrules)


def _printable(text: str) -> str:
    """Refuse characters no email, web page or feed can carry."""
    bad = _BAD_CHAR.search(text)
    if bad:
        raise ValueError(f"character U+{ord(bad.group()):04X} is not allowed")
    return text


_FILLED = text(filled=True)  # the schema states the rule: filled, no control characters
Paragraph = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    AfterValidator(_printable),
    _FILLED,
]


def _bounded(max_length: int) -> Any:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


Heading = Annotated[str, _bounded(200), AfterValidator(_printable), _FILLED]
QuestionText = Annotated[str, _bounded(500), AfterValidator(_printable), _FILLED]
TopicName = Annotated[str, _bounded(120), AfterValidator(_printable), _FILLED]
Title = Annotated[str, _bounded(300), AfterValidator(_printable), _FILLED]
Source = Annotated[str, _bounded(200), AfterValidator(_printable), _FILLED]


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SubsectionInput(_Input):
    """A sub-heading of "What's behind the headline?" and its paragraphs."""

    model_config = ConfigDict(title="Subsection")

    heading: Heading
    paragraphs: tuple[Paragraph, ...] = Field(min_length=1)


class QuestionInput(_Input):
    """A "Go deeper" question and its answer paragraphs."""

    model_config = ConfigDict(title="Question")

    question: QuestionText
    answer: tuple[Paragraph, ...] = Field(min_length=1)


class TopicInput(_Input):
    """A topic; without a ``name`` the name is derived from the description."""

    # The one rule across fields that JSON Schema can state: a name or a description.
    model_config = ConfigDict(
        title="Topic",
        json_schema_extra={
            "anyOf": [
                {"required": ["name"], "properties": {"name": {"type": "string"}}},
                {"required": ["description"], "properties": {"description": {"pattern": "\\S"}}},
            ]
        },
    )

    name: TopicName | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True), text()] = ""

    @model_validator(mode="after")
    def _named(self) -> TopicInput:
        _printable(self.description)
        if self.name is None and not self.description:
            raise ValueError("a topic needs a name or a description")
        return self


class BriefingInput(_Input):
    """A briefing in the JSON import form."""

    model_config = ConfigDict(title="Briefing")

    title: Title | None = Field(
        default=None, description="Derived from the first sentence of the lede when absent"
    )
    slug: str | None = Field(
        default=None,
        max_length=120,
        pattern=SLUG_PATTERN,
        description="Derived from the title when absent",
    )
    lede: tuple[Paragraph, ...] = Field(min_length=1, description="What's happened")
    behind_the_headline: tuple[SubsectionInput, ...] = Field(
        default=(), description="What's behind the headline?"
    )
    what_the_papers_say: tuple[Paragraph, ...] = Field(
        default=(), description="What the papers say"
    )
    how_we_got_here: tuple[Paragraph, ...] = Field(default=(), description="How we got here")
    questions: tuple[QuestionInput, ...] = Field(default=(), description="Go deeper")
    topics: tuple[TopicInput, ...] = Field(default=(), description="More on these topics")
    url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    source: Source | None = None
    published: AwareDatetime | None = Field(default=None, description="ISO 8601 with a UTC offset")
    embargo: AwareDatetime | None = Field(default=None, description=EMBARGO_HELP)
    expires: AwareDatetime | None = Field(default=None, description=EXPIRES_HELP)
    # Strict: the schema says integer, so ``true`` or ``"5"`` must not slip through as 1 or 5.
    priority: int = Field(default=0, ge=-100, le=100, strict=True, description="Higher comes first")

    @field_validator("expires")
    @classmethod
    def _expires_after_embargo(
        cls, expires: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        return check_expiry(info.data.get("embargo"), expires)


def briefing_json_schema() -> dict[str, Any]:
    """The JSON Schema of the JSON import form."""
    schema = BriefingInput.model_json_schema()
    return {"$schema": SCHEMA_DIALECT, **schema, "title": "Briefing"}


class _Refused(InvalidInputError):
    """A JSON feature the form refuses (duplicate keys, NaN, Infinity)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"the key {quote(key)} appears twice in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> NoReturn:
    raise _Refused(f"{name} is not allowed; use a number")


def _load(text: str, filename: str) -> Any:
    """The JSON value of ``text``; syntax errors name the line and column."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        message = f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    except _Refused as exc:
        message = f"invalid JSON: {exc}"
    except ValueError:  # json raises it for an integer too long to convert
        message = "invalid JSON: a number has too many digits"
    raise InvalidInputError(f"{filename}: $: {message}")


def parse_json(
    data: str | bytes, *, filename: str = "<json>", limits: Limits = DEFAULT_LIMITS
) -> BriefingContent:
    """Parse a briefing in the JSON import form; errors name the file and JSON path.

    ``limits`` bound its bytes, nesting, topics and paragraphs.
    """
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    derive.check_size(len(raw), f"{filename}: $", limits)
    too_deep = json_too_deep(raw, limits.json_depth)
    if too_deep is not None:
        raise InvalidInputError(f"{filename}: $: {too_deep}")
    if isinstance(data, bytes):
        data = derive.decode(data, lambda line: f"{filename}: $: line {line}")
    value = _load(data.removeprefix("\ufeff"), filename)
    if not isinstance(value, dict):
        raise InvalidInputError(f"{filename}: $: expected a JSON object holding a briefing")

    def where(loc: Loc) -> str:
        return f"{filename}: {field_path(loc)}"

    try:
        briefing = BriefingInput.model_validate(value)
    except ValidationError as exc:
        raise InvalidInputError(derive.describe(exc, where)) from None
    fields = briefing.model_dump()
    notes: list[ImportWarning] = []
    for i, topic in enumerate(fields["topics"]):
        if topic["name"] is None:
            topic["name"], certain = derive.topic_name(topic["description"])
            if not topic["name"]:
                raise InvalidInputError(
                    f"{where(('topics', i, 'name'))}: no name given and none found at the "
                    "start of the description"
                )
            if not certain:
                notes.append(
                    ImportWarning(
                        code=WarningCode.DERIVED_TOPICS,
                        message=f"Could not tell where the name of topic {i + 1} ends; used "
                        f"{quote(topic['name'])}. Give the topic a name.",
                    )
                )
    return derive.complete(
        fields, where=where, line_of=lambda loc: None, warnings=notes, limits=limits
    )
