"""Plain values describing one edition, shared by the email, web and feed renderers.

The digest service builds an ``Edition`` from the database snapshot; renderers take
it and return strings, so they never touch the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from newsletter.content.briefing import BriefingContent


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
