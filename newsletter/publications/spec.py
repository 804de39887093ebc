"""The validated description of a publication, and the TOML file that holds several.

``PublicationSpec`` is the single gate every publication passes through: the TOML
loader, ``publications add`` and ``publications edit`` all validate with it, so a
publication in the database always satisfies the same rules.

Personal digests: ``local_delivery`` sends at ``send_time`` in each reader's own zone
(readers without one get ``timezone``); ``weekly_days`` are the days weekly readers
may choose for their roundup (empty: no weekly roundup), each roundup carrying at
most ``weekly_max`` briefings; ``topic_mode`` says what a reader who chose topics
receives: ``only`` those briefings, or those ``first`` and then the rest.

Kinds of mail: ``digest_group_id`` and ``alert_group_id`` are the SendGrid
unsubscribe groups (``asm.group_id``) the digest and the alerts go out under (none:
no group); two kinds never share one, so a group's events name one kind.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from newsletter import i18n
from newsletter import schemahints as h
from newsletter.content.slots import SlotSpec, check_cutoff, check_name, check_slots
from newsletter.errors import InvalidInputError
from newsletter.files import read_input
from newsletter.parsing import (
    SLUG_PATTERN,
    WEEKDAYS,
    parse_days,
    parse_time,
    parse_weekdays,
    read_days,
    read_time,
    read_zone,
)
from newsletter.publications.models import TopicMode
from newsletter.textrules import bad_character

StrictInt = Annotated[int, Field(strict=True)]
COLOUR_PATTERN = r"^#[0-9a-fA-F]{6}$"
LANGUAGE = {"type": "string", "enum": list(h.language_tags())}
TOPIC = {"type": "string", "maxLength": 120, "pattern": h.FILLED_LINE_PATTERN}


def _email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"expected an email address ({exc})") from None


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise ValueError("expected an http:// or https:// URL")
    return value


class PublicationSpec(BaseModel):
    """Every editable property of a publication, validated."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    slug: str = Field(min_length=1, max_length=64, pattern=SLUG_PATTERN)
    # The Annotated keywords state the validators' rules in the JSON Schema (schemahints).
    name: Annotated[str, h.text(one_line=True, filled=True)] = Field(min_length=1, max_length=200)
    tagline: Annotated[str, h.text(one_line=True)] = Field(default="", max_length=300)
    from_name: Annotated[str, h.text(one_line=True)] = Field(default="", max_length=200)
    from_email: Annotated[str, h.ADDRESS] = Field(max_length=320)
    reply_to: Annotated[str, h.ADDRESS_OR_BLANK] = Field(default="", max_length=320)
    base_url: Annotated[str, h.URL] = Field(max_length=500)
    postal_address: Annotated[str, h.text(filled=True)] = Field(min_length=1)
    timezone: Annotated[str, h.zone()] = "UTC"
    language: Annotated[str, h.language()] = "en"
    # The languages readers may choose (empty: only ``language``); always holds ``language``.
    languages: Annotated[tuple[str, ...], h.Keywords(items=LANGUAGE)] = ()
    send_time: Annotated[time, h.TIME] = time(7, 0)
    weekdays: Annotated[tuple[str, ...], h.DAYS, h.Keywords(minItems=1)] = (
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
    )
    max_briefings: StrictInt = Field(default=10, ge=1, le=100)
    topics: Annotated[tuple[str, ...], h.Keywords(items=TOPIC)] = ()
    accent_color: str = Field(default="#1a56db", pattern=COLOUR_PATTERN)
    logo_url: Annotated[str, h.URL_OR_BLANK] = Field(default="", max_length=500)
    track_opens: Annotated[bool, Field(strict=True)] = False
    track_clicks: Annotated[bool, Field(strict=True)] = False
    # Personal digests: each reader's local send time, weekly roundups, topic selection.
    local_delivery: Annotated[bool, Field(strict=True)] = False
    weekly_days: Annotated[tuple[str, ...], h.DAYS] = ()
    weekly_max: StrictInt = Field(default=10, ge=1, le=100)
    topic_mode: TopicMode = TopicMode.ONLY
    # Alerts a day (in the publication's zone) before only an admin may send another.
    alerts_per_day: StrictInt = Field(default=3, ge=0, le=100)
    # SendGrid unsubscribe groups per kind of mail (``asm.group_id``); None: no group.
    digest_group_id: StrictInt | None = Field(default=None, ge=1, le=2**31 - 1)
    alert_group_id: StrictInt | None = Field(default=None, ge=1, le=2**31 - 1)

    @field_validator("*")
    @classmethod
    def _check_characters(cls, value: Any, info: ValidationInfo) -> Any:
        """The briefings' rule for stored text (newsletter.textrules), on every text field:
        no control characters; one line (no CR/LF, no tab) except the postal address, since
        the name, from_name and the rest end up in headers, feeds and page titles."""
        multi_line = info.field_name == "postal_address"
        for text in value if isinstance(value, tuple) else (value,):
            if isinstance(text, str):
                problem = bad_character(text, one_line=not multi_line)
                if problem is not None:
                    raise ValueError(problem)
        return value

    @field_validator("from_email")
    @classmethod
    def _check_from_email(cls, value: str) -> str:
        return _email(value)

    @field_validator("reply_to")
    @classmethod
    def _check_reply_to(cls, value: str) -> str:
        return _email(value) if value else ""

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(_http_url(value))
        if parts.query or parts.fragment:
            raise ValueError("the base URL must not have a query or a fragment")
        # urls.py appends paths starting with "/", so the base never ends with one.
        return value.rstrip("/")

    @field_validator("logo_url")
    @classmethod
    def _check_logo_url(cls, value: str) -> str:
        return _http_url(value) if value else ""

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        if read_zone(value) is None:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Europe/London')")
        return value

    @field_validator("language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        return _language(value, "")

    @field_validator("languages", mode="before")
    @classmethod
    def _check_languages(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ValueError('expected a list of language tags, e.g. ["en", "de"]')
        if len(value) > 50:
            raise ValueError("at most 50 languages")
        tags = (_language(tag, f"[{index}]") for index, tag in enumerate(value))
        return tuple(dict.fromkeys(tags))

    @model_validator(mode="after")
    def _offer_the_default(self) -> PublicationSpec:
        """The default language is always offered, first (added when ``languages`` lacks it:
        a rule across two fields that no API schema could state, so never a refusal)."""
        rest = tuple(tag for tag in self.languages if tag != self.language)
        object.__setattr__(self, "languages", (self.language, *rest))
        return self

    @field_validator("send_time", mode="before")
    @classmethod
    def _check_send_time(cls, value: Any) -> Any:
        if isinstance(value, time):
            return value.replace(second=0, microsecond=0, tzinfo=None)
        parsed = read_time(value) if isinstance(value, str) else None
        if parsed is None:
            raise ValueError(f"expected a time as HH:MM, e.g. '07:00' (got {value!r})")
        return parsed

    @field_validator("weekdays", mode="before")
    @classmethod
    def _check_weekdays(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ValueError(f"expected a list of day names from {', '.join(WEEKDAYS)}")
        days, unknown = read_days(str(day) for day in value)
        if unknown:
            raise ValueError(f"unknown day {unknown[0]!r}; expected some of {', '.join(WEEKDAYS)}")
        if not days:
            raise ValueError("at least one weekday is needed")
        return tuple(day for day in WEEKDAYS if day in days)

    @field_validator("weekly_days", mode="before")
    @classmethod
    def _check_weekly_days(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ValueError(f"expected a list of day names from {', '.join(WEEKDAYS)}")
        days, unknown = read_days(str(day) for day in value)
        if unknown:
            raise ValueError(f"unknown day {unknown[0]!r}; expected some of {', '.join(WEEKDAYS)}")
        return tuple(day for day in WEEKDAYS if day in days)

    @field_validator("topic_mode", mode="before")
    @classmethod
    def _check_topic_mode(cls, value: Any) -> Any:
        modes = [mode.value for mode in TopicMode]
        if isinstance(value, TopicMode):
            return value
        if not isinstance(value, str) or value.strip().lower() not in modes:
            raise ValueError(f"expected one of {', '.join(modes)} (got {value!r})")
        return TopicMode(value.strip().lower())

    @field_validator("topics", mode="before")
    @classmethod
    def _check_topics(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ValueError("expected a list of topic names")
        seen: dict[str, str] = {}
        for topic in value:
            if not isinstance(topic, str) or not topic.strip():
                raise ValueError("every topic must be a non-empty string")
            if len(topic.strip()) > 120:
                raise ValueError("a topic name has at most 120 characters")
            seen.setdefault(topic.strip().casefold(), topic.strip())
        return tuple(seen.values())

    @field_validator("alert_group_id")
    @classmethod
    def _check_groups_differ(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value == info.data.get("digest_group_id"):
            raise ValueError(
                f"group {value} is already the digest's unsubscribe group; each kind of mail "
                "needs its own group (or none)"
            )
        return value

    @field_validator("accent_color")
    @classmethod
    def _lower_colour(cls, value: str) -> str:
        return value.lower()

    def resolved_from_name(self) -> str:
        """The sender name, falling back to the publication's name."""
        return self.from_name or self.name


def _language(tag: Any, index: str) -> str:
    """A language tag in canonical form; the error starts with ``index`` (``[1]``) if any."""
    try:
        return i18n.check_language(tag, field="@")
    except InvalidInputError as exc:
        message = str(exc).removeprefix("@: ")
        raise ValueError(f"{index}: {message}" if index else message) from None


def describe_errors(exc: ValidationError, label: Callable[[str], str] = str) -> str:
    """Turn pydantic's errors into one line naming each field and what was expected.

    A message starting ``[1]:`` names an item of the field (``languages[1]: ...``).
    """
    parts = []
    for error in exc.errors():
        field = label(str(error["loc"][0])) if error["loc"] else "value"
        message = str(error["msg"]).removeprefix("Value error, ").strip()
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        index, bracket, rest = message[1:].partition("]")
        if message.startswith("[") and bracket and index.isdigit():
            parts.append(f"{field}[{index}]{rest}")
            continue
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def validate_spec(
    data: dict[str, Any], *, where: str, label: Callable[[str], str] = str
) -> PublicationSpec:
    """Validate one publication's values, or raise an error that starts with ``where``.

    ``label`` names a field the way the user wrote it (a TOML key, a CLI option).
    """
    try:
        return PublicationSpec.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(f"{where}: {describe_errors(exc, label)}") from None


def _toml_key(name: str) -> str:
    return f"key {name!r}"


def _slot_spec(table: Any, at: str) -> SlotSpec:
    """One ``[[publication.slot]]`` table as a slot spec, refused naming the key."""
    if not isinstance(table, dict):
        raise InvalidInputError(f"{at}: expected a table")
    unknown = sorted(set(table) - {"name", "time", "days", "cutoff_minutes"})
    if unknown:
        raise InvalidInputError(f"{at}: key {unknown[0]!r}: unknown key")
    missing = [key for key in ("name", "time", "days") if key not in table]
    if missing:
        raise InvalidInputError(f"{at}: key {missing[0]!r}: required key is missing")
    name, when, days = table["name"], table["time"], table["days"]
    cutoff = table.get("cutoff_minutes", 0)
    check_name(str(name), field=f"{at}: key 'name'")
    if not isinstance(when, time):
        when = parse_time(str(when), field=f"{at}: key 'time'")
    if isinstance(days, list):
        weekdays = parse_days([str(day) for day in days], field=f"{at}: key 'days'")
    else:
        weekdays = parse_weekdays(str(days), field=f"{at}: key 'days'")
    if not isinstance(cutoff, int) or isinstance(cutoff, bool):
        raise InvalidInputError(f"{at}: key 'cutoff_minutes': expected a whole number")
    check_cutoff(cutoff, field=f"{at}: key 'cutoff_minutes'")
    return SlotSpec(str(name), when, weekdays, cutoff)


def _slot_specs(tables: Any, where: str) -> tuple[SlotSpec, ...]:
    """A publication table's ``[[publication.slot]]`` tables (``name``, ``time``, ``days``,
    optional ``cutoff_minutes``) as slot specs that do not clash, refused naming the key."""
    if not isinstance(tables, list):
        raise InvalidInputError(f"{where}: key 'slot': expected [[publication.slot]] tables")
    specs = [
        _slot_spec(table, f"{where}: [[publication.slot]] #{index}")
        for index, table in enumerate(tables, start=1)
    ]
    check_slots(specs, field=f"{where}: [[publication.slot]]")
    return tuple(specs)


def load_slots(path: Path) -> dict[str, tuple[SlotSpec, ...]]:
    """The named slots each publication of a TOML file declares (``[[publication.slot]]``
    tables, or ``slot = []`` for none), by slug; publications without the key are left
    out (their slots stay as they are). The file was validated by ``load_toml``."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    found: dict[str, tuple[SlotSpec, ...]] = {}
    for index, table in enumerate(document["publication"], start=1):
        if "slot" in table:
            where = f"{path}: [[publication]] #{index} (slug {table['slug']!r})"
            found[table["slug"]] = _slot_specs(table["slot"], where)
    return found


def load_toml(path: Path) -> list[PublicationSpec]:
    """Read and validate every ``[[publication]]`` table of a TOML file (all or nothing);
    its ``[[publication.slot]]`` tables too (``load_slots`` returns them)."""
    try:
        document = tomllib.loads(read_input(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"publication"})
    if unknown:
        raise InvalidInputError(
            f"{path}: unknown top-level key {unknown[0]!r}; expected [[publication]] tables"
        )
    tables = document.get("publication")
    if not isinstance(tables, list) or not tables:
        raise InvalidInputError(f"{path}: expected at least one [[publication]] table")
    specs: list[PublicationSpec] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(tables, start=1):
        slug = table.get("slug") if isinstance(table, dict) else None
        where = f"{path}: [[publication]] #{index}" + (f" (slug {slug!r})" if slug else "")
        if not isinstance(table, dict):
            raise InvalidInputError(f"{where}: expected a table")
        slots = _slot_specs(table["slot"], where) if "slot" in table else ()
        table = {key: value for key, value in table.items() if key != "slot"}
        spec = validate_spec(table, where=where, label=_toml_key)
        if slots and spec.local_delivery:
            raise InvalidInputError(
                f"{where}: key 'local_delivery': named slots need the publication's single "
                "time zone; local delivery cannot be combined with [[publication.slot]]"
            )
        if spec.slug in seen:
            raise InvalidInputError(
                f"{where}: slug {spec.slug!r} already used by [[publication]] #{seen[spec.slug]}"
            )
        seen[spec.slug] = index
        specs.append(spec)
    return specs
