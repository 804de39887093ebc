"""The structured content of one briefing, as a validated, immutable value.

This is the project's own form of a briefing: the plain-text parser produces it,
the JSON importer validates into it (and ``newsletter briefings schema`` publishes
its JSON Schema), and every output (email, web page, feeds) reads from it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from newsletter.parsing import SLUG_PATTERN

EMBARGO_HELP = "Not to be published before this time (ISO 8601 with a UTC offset)"
EXPIRES_HELP = (
    "Not to be published from this time on, and taken out of published editions then "
    "(ISO 8601 with a UTC offset; later than the embargo)"
)
_OPTIONAL_LATER = ("embargo", "expires")


def check_expiry(embargo: datetime | None, expires: datetime | None) -> datetime | None:
    """``expires`` if it is after ``embargo`` (either may be absent), else ``ValueError``."""
    if embargo is not None and expires is not None and expires <= embargo:
        raise ValueError(
            f"the expiry {expires.isoformat()} must be later than the embargo {embargo.isoformat()}"
        )
    return expires


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Subsection(_Frozen):
    """One sub-heading of "What's behind the headline?" with its paragraphs."""

    heading: str = Field(min_length=1, max_length=200)
    paragraphs: tuple[str, ...] = Field(min_length=1)


class Question(_Frozen):
    """A reader question from "Go deeper" with its answer paragraphs."""

    question: str = Field(min_length=1, max_length=500)
    answer: tuple[str, ...] = Field(min_length=1)


class Topic(_Frozen):
    """An entity from "More on these topics": its name and its description."""

    name: str = Field(min_length=1, max_length=120)
    description: str = ""


class WarningCode(StrEnum):
    """Things an editor should look at before approving."""

    DERIVED_TITLE = "derived_title"
    TRUNCATED = "truncated"
    MISSING_SECTION = "missing_section"
    DERIVED_TOPICS = "derived_topics"


class ImportWarning(_Frozen):
    """A note for the editor raised while importing a briefing."""

    code: WarningCode
    message: str
    line: int | None = None


class BriefingContent(_Frozen):
    """Everything a briefing says, in the order of the briefing format."""

    title: str = Field(min_length=1, max_length=300)
    title_derived: bool = False
    slug: str = Field(min_length=1, max_length=120, pattern=SLUG_PATTERN)
    lede: tuple[str, ...] = Field(min_length=1, description="What's happened")
    behind_the_headline: tuple[Subsection, ...] = ()
    what_the_papers_say: tuple[str, ...] = ()
    how_we_got_here: tuple[str, ...] = ()
    questions: tuple[Question, ...] = Field(default=(), description="Go deeper")
    topics: tuple[Topic, ...] = Field(default=(), description="More on these topics")
    url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    source: str | None = Field(default=None, max_length=200)
    published: AwareDatetime | None = None
    embargo: AwareDatetime | None = Field(default=None, description=EMBARGO_HELP)
    expires: AwareDatetime | None = Field(default=None, description=EXPIRES_HELP)
    priority: int = Field(default=0, ge=-100, le=100, description="Higher comes first")
    warnings: tuple[ImportWarning, ...] = ()

    @field_validator("expires")
    @classmethod
    def _expires_after_embargo(
        cls, expires: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        return check_expiry(info.data.get("embargo"), expires)

    def embargoed(self, at: datetime) -> bool:
        """Whether the briefing is still under embargo at ``at``."""
        return self.embargo is not None and at < self.embargo

    def expired(self, at: datetime) -> bool:
        """Whether the briefing has expired by ``at``."""
        return self.expires is not None and at >= self.expires

    @property
    def topic_names(self) -> tuple[str, ...]:
        """The names of the briefing's topics, in order."""
        return tuple(topic.name for topic in self.topics)

    def content_hash(self) -> str:
        """A hash of what the briefing says (warnings excluded), to detect real changes."""
        data = self.model_dump(mode="json", exclude={"warnings"})
        # Fields added later count only when set, so older briefings keep their hashes
        # and re-importing them does not make a new revision.
        for key in _OPTIONAL_LATER:
            if data[key] is None:
                del data[key]
        encoded = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(encoded).hexdigest()
