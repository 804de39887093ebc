"""Turn an ``Edition`` into the values templates read (shared by email, text and web).

Templates get small frozen views rather than the edition itself, so that what a
template may use is written down here: URLs come from ``newsletter.urls`` and the
publication's look is validated once (the accent colour goes into CSS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsletter import urls
from newsletter.content.briefing import BriefingContent
from newsletter.content.edition import Edition, EditionItem, PublicationInfo
from newsletter.errors import InvalidInputError
from newsletter.render import placeholders
from newsletter.templating import check_colour, long_date, tint

PREHEADER_LENGTH = 140


@dataclass(frozen=True)
class ItemView:
    """One briefing as a template shows it."""

    number: int
    content: BriefingContent
    url: str
    shrunk: bool = False


def brand(publication: PublicationInfo) -> dict[str, str]:
    """The publication's name, look and addresses, as the base templates read them."""
    if publication.logo_url and not publication.logo_url.startswith(("https://", "http://")):
        raise InvalidInputError(
            f"publication {publication.slug}: logo_url must be an http(s) URL, "
            f"got {publication.logo_url!r}"
        )
    accent = check_colour(publication.accent_color, field=f"{publication.slug}: accent_color")
    return {
        "name": publication.name,
        "tagline": publication.tagline,
        "accent": accent,
        "accent_tint": tint(accent),
        "logo_url": publication.logo_url,
        "home_url": urls.archive_index(publication.base_url, publication.slug),
        "postal_address": " ".join(publication.postal_address.split()),
    }


def recipient_links() -> dict[str, str]:
    """Footer links as per-recipient placeholders (the dispatch step fills them in)."""
    return {
        "view": placeholders.VIEW_URL,
        "preferences": placeholders.PREFERENCES_URL,
        "unsubscribe": placeholders.UNSUBSCRIBE_URL,
    }


def base_context(publication: PublicationInfo) -> dict[str, Any]:
    """What ``email/_base`` needs besides ``title`` and ``preheader``."""
    return {
        "lang": publication.language,
        "brand": brand(publication),
        "links": recipient_links(),
    }


def preheader(content: BriefingContent, limit: int = PREHEADER_LENGTH) -> str:
    """The first lede paragraph, cut at a word boundary to about ``limit`` characters."""
    text = " ".join(content.lede[0].split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def item_view(
    edition: Edition, item: EditionItem, number: int, *, shrunk: bool = False
) -> ItemView:
    """The view of one item, with its link to the briefing on the edition's web page."""
    pub = edition.publication
    url = urls.briefing_in_edition(pub.base_url, pub.slug, edition.edition_date, item.content.slug)
    return ItemView(number=number, content=item.content, url=url, shrunk=shrunk)


def edition_context(edition: Edition, *, shrink_last: int = 0) -> dict[str, Any]:
    """Everything the digest and archive templates read; the last ``shrink_last`` items shrunk."""
    if not edition.items:
        raise InvalidInputError(
            f"edition {edition.publication.slug} {edition.edition_date}: no briefings to render"
        )
    pub = edition.publication
    ordered = sorted(edition.items, key=lambda item: item.position)
    first_shrunk = len(ordered) - shrink_last
    items = [
        item_view(edition, item, number, shrunk=number > first_shrunk)
        for number, item in enumerate(ordered, start=1)
    ]
    return {
        **base_context(pub),
        "edition": edition,
        "publication": pub,
        "date_label": long_date(edition.edition_date),
        "items": items,
        "lead": items[0],
        "preheader": preheader(items[0].content),
        "shrunk_count": shrink_last,
        "edition_url": urls.edition_page(pub.base_url, pub.slug, edition.edition_date),
        "archive_url": urls.archive_index(pub.base_url, pub.slug),
    }
