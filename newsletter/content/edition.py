"""Plain values describing one edition, shared by the email, web and feed renderers.

The digest service builds an ``Edition`` from the database snapshot; renderers take
it and return strings, so they never touch the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from newsletter import urls
from newsletter.content.briefing import BriefingContent
from newsletter.content.cadence import READER_CADENCES as READER_CADENCES
from newsletter.content.cadence import Cadence as Cadence


class MailKind(StrEnum):
    """A kind of mail a reader can leave on its own: the digest (daily editions and
    weekly roundups) or alerts. Each has its own one-click unsubscribe and, where
    configured, its own SendGrid unsubscribe group."""

    DIGEST = "digest"
    ALERT = "alert"


def mail_kind(cadence: Cadence) -> MailKind:
    """The kind of mail an edition of ``cadence`` is."""
    return MailKind.ALERT if cadence is Cadence.ALERT else MailKind.DIGEST


class ItemStatus(StrEnum):
    """What the newsroom stands behind now for a briefing it published.

    ``LIVE`` shows the (possibly corrected) text; ``WITHDRAWN`` and ``EXPIRED`` show a
    notice instead of it and leave feeds; ``TAKEN_DOWN`` (a legal request) carries no
    original text at all: the item's content is a placeholder.
    """

    LIVE = "live"
    WITHDRAWN = "withdrawn"
    TAKEN_DOWN = "taken_down"
    EXPIRED = "expired"


@dataclass(frozen=True)
class CorrectionNote:
    """One dated correction note shown with a corrected briefing."""

    at: datetime
    note: str


@dataclass(frozen=True)
class CorrectionNotice:
    """One line of an edition's "Corrections" block: a change to an earlier briefing."""

    kind: str  # "correction" or "withdrawal"
    slug: str
    title: str
    note: str
    at: datetime
    url: str


@dataclass(frozen=True)
class PublicationInfo:
    """What a renderer needs to know about a publication."""

    slug: str
    name: str
    base_url: str
    tagline: str = ""
    from_name: str = ""
    from_email: str = ""
    reply_to: str = ""
    postal_address: str = ""
    timezone: str = "UTC"
    language: str = "en"
    accent_color: str = "#1a56db"
    logo_url: str = ""


@dataclass(frozen=True)
class EditionItem:
    """One briefing revision as frozen into an edition."""

    briefing_id: int
    revision: int
    content: BriefingContent
    approved_at: datetime
    position: int
    status: ItemStatus = ItemStatus.LIVE
    corrections: tuple[CorrectionNote, ...] = ()
    # The item's last public change (its latest correction, withdrawal or takedown).
    updated_at: datetime | None = None

    @property
    def is_live(self) -> bool:
        """Whether readers see the briefing's text (not withdrawn, expired or taken down)."""
        return self.status is ItemStatus.LIVE


@dataclass(frozen=True)
class Edition:
    """A publication's edition for one date, with its briefings in order."""

    id: int
    publication: PublicationInfo
    edition_date: date
    items: tuple[EditionItem, ...]
    assembled_at: datetime
    published_at: datetime | None = None
    notes: tuple[str, ...] = field(default=())
    # The "Corrections" block: changes to briefings earlier editions carried.
    corrections: tuple[CorrectionNotice, ...] = ()
    # Topic name -> its stable slug in the publication (pages link topics by it).
    topic_slugs: tuple[tuple[str, str], ...] = ()
    # A daily edition, or the weekly roundup of the week's most important briefings.
    cadence: Cadence = Cadence.DAILY
    # Set when this is a topic variant (its key, "3.1"): what readers who chose topics
    # get. Its email's web link is then the variant's page, which shows just these
    # briefings; None is the full edition.
    variant_key: str | None = None
    # Empty for the main schedule; a named slot's name; an alert's key (its briefing id).
    slot: str = ""

    @property
    def is_alert(self) -> bool:
        """Whether this is an alert: one briefing sent at once, outside the schedule."""
        return self.cadence is Cadence.ALERT

    @property
    def slot_name(self) -> str:
        """The named schedule slot of a daily edition ("morning"); "" otherwise (an
        alert's ``slot`` is its key, not a slot of the schedule)."""
        return self.slot if self.cadence is Cadence.DAILY else ""

    def page_url(self) -> str:
        """The full edition's web page: its date's daily page, its weekly roundup's, its
        slot's (``/p/<publication>/<date>/<slot>/``), or its alert's."""
        pub = self.publication
        if self.is_alert:
            return urls.alert_page(pub.base_url, pub.slug, self.slot)
        weekly = self.cadence is Cadence.WEEKLY
        return urls.edition_page(
            pub.base_url, pub.slug, self.edition_date, weekly=weekly, slot=self.slot_name
        )

    def topic_slug(self, name: str) -> str | None:
        """The stable slug of the topic called ``name`` in this publication, if it has one."""
        return dict(self.topic_slugs).get(name)
