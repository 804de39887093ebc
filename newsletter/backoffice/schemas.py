"""The REST API's request and response bodies (their JSON Schemas are the OpenAPI contract)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from newsletter import schemahints as h
from newsletter.content.briefing import ImportWarning
from newsletter.content.slots import RESERVED_NAMES
from newsletter.editors.services import NAME_PATTERN
from newsletter.parsing import LOCAL_PATTERN, SLUG_PATTERN, TIME_PATTERN
from newsletter.publications.spec import COLOUR_PATTERN, LANGUAGE, TOPIC

RESERVED = sorted(RESERVED_NAMES)  # slot names edition URLs keep for themselves


class FieldError(BaseModel):
    """One field that failed validation."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """Every refused request: a message (naming the field, where one is at fault) and the status."""

    error: str
    status: int
    fields: list[FieldError] | None = None


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Decision(_In):
    """An editor's note on approving or withdrawing."""

    comment: str = Field(default="", max_length=2000)


class Approval(_In):
    """Approving the latest revision: a note, and what a correction or derived title needs."""

    comment: str = Field(default="", max_length=2000, description="Kept in the history")
    correction_note: str | None = Field(
        default=None,
        max_length=2000,
        description="Required when the briefing was published: readers see it, dated",
    )
    confirm_title: bool = Field(
        strict=True,  # a boolean, as the schema says: 0 or "yes" are refused
        default=False,
        description="Confirm a title derived from the text (required to approve it)",
    )


class Takedown(_In):
    """Why a briefing is taken down (a legal request; audited, never shown to readers)."""

    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")


class Rejection(_In):
    """Why a briefing is rejected (the newsroom reads it)."""

    comment: str = Field(min_length=1, max_length=2000, pattern=r"\S")


class ImportResult(BaseModel):
    """What ingesting one briefing did: ``created``, ``revised`` or ``unchanged``."""

    slug: str
    id: int
    action: str
    revision: int
    state: str
    approved: bool
    warnings: list[ImportWarning]


class BriefingRow(BaseModel):
    """A briefing in the queue."""

    slug: str
    title: str
    state: str
    revision: int
    live_revision: int | None
    topics: list[str]
    warnings: list[str]
    updated_at: str


class HistoryEntry(BaseModel):
    """One audit-trail entry of a briefing."""

    at: datetime
    editor: str
    action: str
    revision: int
    from_state: str | None
    to_state: str
    comment: str


class PublicChangeEntry(BaseModel):
    """A change readers saw: a correction, withdrawal, takedown or expiry."""

    at: datetime
    kind: str
    revision: int
    editor: str
    note: str


class BriefingDetail(BaseModel):
    """A briefing, its latest revision's content, its history and its public changes."""

    slug: str
    id: int
    state: str
    revision: int
    live_revision: int | None
    approved_by: str | None
    approved_at: datetime | None
    published: bool = Field(description="An edition carried it: approving again is a correction")
    title_needs_confirmation: bool = Field(
        description="The latest title was derived from the text and nobody confirmed it"
    )
    taken_down_at: datetime | None
    content: dict[str, Any]
    history: list[HistoryEntry]
    public_changes: list[PublicChangeEntry]


class ScheduleIn(_In):
    """A recurring schedule: local time, IANA time zone, days (mon ... sun)."""

    send_time: str = Field(pattern=TIME_PATTERN, examples=["07:00"])
    timezone: Annotated[str, h.zone()] = Field(
        min_length=1, max_length=64, examples=["Europe/London"]
    )
    weekdays: Annotated[list[str], h.DAYS] = Field(
        min_length=1, max_length=7, examples=[["mon", "tue"]]
    )


class OnceIn(_In):
    """A one-off edition at a local date and time of the publication's zone."""

    at: Annotated[str, h.LOCAL] = Field(pattern=LOCAL_PATTERN, examples=["2030-01-31 07:00"])


class SlotIn(_In):
    """A named slot: its name (in URLs), local time, days and cut-off in minutes before it."""

    name: Annotated[str, h.Keywords(pattern=SLUG_PATTERN, **{"not": {"enum": RESERVED}})] = Field(
        min_length=1, max_length=40, examples=["evening"]
    )
    send_time: str = Field(pattern=TIME_PATTERN, examples=["18:00"])
    weekdays: Annotated[list[str], h.DAYS] = Field(
        min_length=1, max_length=7, examples=[["mon", "tue"]]
    )
    cutoff_minutes: int = Field(default=0, ge=0, le=1380, examples=[30])


class SendNowIn(_In):
    """Which edition of today to start now: a named slot's, or ("" or no body) the main
    schedule's."""

    slot: str = Field(default="", max_length=40, examples=["evening"])


class SlotOut(BaseModel):
    """A named slot of a publication's schedule."""

    name: str
    send_time: str
    weekdays: list[str]
    cutoff_minutes: int


class ScheduledEditionOut(BaseModel):
    """An edition the scheduler knows of (``slot``: its named slot, "" the main schedule)."""

    id: int
    publication: str
    edition_date: str
    slot: str = ""
    due_local: str
    due_utc: str
    kind: str
    state: str
    digest_state: str | None
    reason: str | None
    can_cancel: bool = False  # whether a cancel would be taken now


class ScheduleOut(BaseModel):
    """A publication's schedule, its next editions and the editions on record."""

    publication: str
    send_time: str
    timezone: str
    weekdays: list[str]
    paused: bool
    upcoming: list[datetime]
    slots: list[SlotOut] = []
    editions: list[ScheduledEditionOut]


class DigestRow(BaseModel):
    """One edition of a publication."""

    id: int
    edition_date: date
    # The named slot of a daily edition ("evening"); "" the main schedule.
    slot: str = ""
    state: str
    subject: str | None
    skip_reason: str | None
    briefings: int


class Rates(BaseModel):
    """Percentages of the recipients sent to; null when unknown or not tracked."""

    bounce: float | None
    complaint: float | None
    open: float | None
    click: float | None


class Tracking(BaseModel):
    """Whether opens and clicks are tracked."""

    opens: bool
    clicks: bool


class VariantOut(BaseModel):
    """One version of an edition: the full edition (key null) or a topic variant."""

    key: str | None
    topics: list[str]
    subject: str
    briefings: int
    readers: int
    sent: int
    failed: int
    skipped: int
    by_state: dict[str, int]


class ZoneGroupOut(BaseModel):
    """The readers of one delivery instant, their zones and their state."""

    deliver_at: str
    zones: list[str]
    local_times: dict[str, str]
    readers: int
    state: str
    sent: int
    failed: int
    batches: dict[str, int]
    by_state: dict[str, int]


class ReportOut(BaseModel):
    """An edition's delivery report."""

    digest_id: int
    publication: str
    edition_date: str
    slot: str = ""
    state: str
    recipients: int
    sent: int
    failed: int
    skipped: int
    bounced: int
    complaints: int
    by_state: dict[str, int]
    by_reason: dict[str, int]
    batches: dict[str, int]
    opened: int
    clicked: int
    tracking: Tracking
    rates: Rates
    cadence: str = "daily"
    variants: list[VariantOut] = []
    zone_groups: list[ZoneGroupOut] = []
    # Readers who confirmed after the edition went out and got it late (catch-up).
    late: int = 0
    late_sent: int = 0


class TestSendIn(_In):
    """Where to send a test copy of the next edition (default: your own address)."""

    to: Annotated[str, h.ADDRESS_OR_BLANK] | None = Field(default=None, max_length=320)


class TestSendOut(BaseModel):
    """The test copy that went out."""

    publication: str
    edition_date: date
    subject: str
    to: str


class EditorIn(_In):
    """A new account."""

    name: Annotated[str, h.Keywords(pattern=NAME_PATTERN)] = Field(min_length=1, max_length=120)
    email: Annotated[str, h.ADDRESS] = Field(min_length=3, max_length=320)
    role: str = Field(pattern=r"^(editor|publisher|admin)$")
    password: str | None = Field(default=None, min_length=12, max_length=1024)


class EditorOut(BaseModel):
    """An account (never its password or tokens)."""

    name: str
    email: str
    role: str
    disabled: bool
    created_at: datetime


class MailingListOut(BaseModel):
    """A mailing list with its opt-in mode and subscriber counts."""

    slug: str
    name: str
    publication: str
    double_opt_in: bool
    confirmed: int
    pending: int


class MailingListIn(_In):
    """A new mailing list of a publication."""

    publication: str = Field(min_length=1, max_length=64, examples=["morning"])
    slug: Annotated[str, h.Keywords(pattern=SLUG_PATTERN)] = Field(
        min_length=1, max_length=64, examples=["weekend"]
    )
    name: Annotated[str, h.text(one_line=True, filled=True)] = Field(
        min_length=1, max_length=200, examples=["Weekend edition"]
    )
    double_opt_in: bool = Field(default=True, strict=True)


class OptInIn(_In):
    """Whether new subscribers must confirm by email."""

    double_opt_in: bool = Field(strict=True)


class PublicationChanges(_In):
    """Publication fields to change; the rest keep their values. The schedule has its own call."""

    # The keywords state the publication's rules (PublicationSpec), so a change the
    # document allows is one the whole-publication validation accepts.
    name: Annotated[str, h.text(one_line=True, filled=True)] | None = Field(
        default=None, max_length=200
    )
    tagline: Annotated[str, h.text(one_line=True)] | None = Field(default=None, max_length=300)
    from_name: Annotated[str, h.text(one_line=True)] | None = Field(default=None, max_length=200)
    from_email: Annotated[str, h.ADDRESS] | None = Field(default=None, max_length=320)
    reply_to: Annotated[str, h.ADDRESS_OR_BLANK] | None = Field(default=None, max_length=320)
    base_url: Annotated[str, h.URL] | None = Field(default=None, max_length=500)
    postal_address: Annotated[str, h.text(filled=True)] | None = Field(
        default=None, max_length=2000
    )
    language: Annotated[str, h.language()] | None = Field(default=None, max_length=35)
    # The languages readers may choose, the default among them.
    languages: Annotated[list[str], h.Keywords(items=LANGUAGE)] | None = Field(
        default=None, max_length=50
    )
    max_briefings: int | None = Field(default=None, ge=1, le=100)
    alerts_per_day: int | None = Field(default=None, ge=0, le=100)
    topics: Annotated[list[str], h.Keywords(items=TOPIC)] | None = Field(
        default=None, max_length=100
    )
    accent_color: Annotated[str, h.Keywords(pattern=COLOUR_PATTERN)] | None = Field(
        default=None, max_length=7
    )
    logo_url: Annotated[str, h.URL_OR_BLANK] | None = Field(default=None, max_length=500)
    track_opens: bool | None = None
    track_clicks: bool | None = None
    # SendGrid unsubscribe groups per kind of mail: a number sets one, null removes it.
    digest_group_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    alert_group_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
