"""Render the web archive: one standalone HTML5 page per edition, and an index.

The pages come from the same ``Edition`` snapshot as the email and carry their own
CSS; their heads advertise the publication's briefings feeds (RSS, Atom, JSON Feed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from newsletter import urls
from newsletter.content.edition import Edition, EditionItem, PublicationInfo
from newsletter.errors import InvalidInputError
from newsletter.render.context import brand, edition_context, item_view
from newsletter.templating import environment

_FEED_TYPES = (
    ("RSS", "application/rss+xml", "rss"),
    ("Atom", "application/atom+xml", "atom"),
    ("JSON Feed", "application/feed+json", "json"),
)


@dataclass(frozen=True)
class ArchiveEntry:
    """One line of the archive index: an edition's date, title, page and size."""

    edition_date: date
    title: str
    url: str
    briefing_count: int


def feed_links(publication: PublicationInfo) -> list[tuple[str, str, str]]:
    """(label, media type, URL) of the publication's briefings feeds."""
    return [
        (label, media, urls.feed(publication.base_url, publication.slug, "briefings", fmt))
        for label, media, fmt in _FEED_TYPES
    ]


def _render(path: str, context: Mapping[str, Any]) -> str:
    return environment().get_template(path).render(context)


def render_edition_page(edition: Edition) -> str:
    """The standalone HTML5 archive page of an edition."""
    context = edition_context(edition)
    return _render(
        "web/archive/edition.html", {**context, "feeds": feed_links(edition.publication)}
    )


def render_archive_index(publication: PublicationInfo, editions: Sequence[ArchiveEntry]) -> str:
    """The list of a publication's editions, in the order given."""
    context = {
        "lang": publication.language,
        "brand": brand(publication),
        "feeds": feed_links(publication),
        "publication": publication,
        "entries": list(editions),
    }
    return _render("web/archive/index.html", context)


def render_briefing_fragment(edition: Edition, item: EditionItem) -> str:
    """One briefing as an ``<article>`` HTML fragment (for the archive page and feeds)."""
    ordered = sorted(edition.items, key=lambda each: each.position)
    if item not in ordered:
        raise InvalidInputError(
            f"briefing {item.content.slug!r} is not part of edition {edition.edition_date}"
        )
    view = item_view(edition, item, ordered.index(item) + 1)
    return _render("web/_briefing.html", {"item": view}).strip() + "\n"
