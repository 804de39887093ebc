"""The plain values the feed builders take: what a feed is, and one entry in it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from newsletter import urls
from newsletter.textrules import printable_text

# Feed readers get the latest 50 entries unless a caller asks otherwise.
DEFAULT_LIMIT = 50

# The three formats, keyed like ``urls.FEED_FORMATS``, with the media type each is served as.
MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}

KIND_BRIEFINGS = "briefings"
KIND_EDITIONS = "editions"
TOPIC_KIND_PREFIX = "topics/"


def topic_kind(topic_slug: str) -> str:
    """The ``kind`` part of a topic feed's URL, e.g. ``topics/climate``."""
    return f"{TOPIC_KIND_PREFIX}{topic_slug}"


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a feed: a briefing or a whole edition, as frozen when published.

    ``id`` never changes once published (it is the entry's permanent archive URL);
    ``url`` is the page readers open. ``published`` is when its edition became public;
    ``updated`` is when its text last changed (see ``entries.item_updated``).
    """

    id: str
    url: str
    title: str
    content_html: str
    summary: str
    published: datetime
    updated: datetime
    categories: tuple[str, ...] = ()
    external_url: str | None = None

    def __post_init__(self) -> None:
        for name in ("published", "updated"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"feed entry {self.id}: {name} must be timezone-aware")
        _printable(self, "title", "content_html", "summary")
        object.__setattr__(self, "categories", tuple(map(printable_text, self.categories)))


@dataclass(frozen=True)
class FeedSpec:
    """Everything about one feed except its entries, shared by the three formats.

    ``created_at`` is when the publication was created: it is the "updated" date of
    a feed that has no entries yet, so even an empty feed has a date that does not
    move between builds (never "now", never the Unix epoch).
    """

    base_url: str
    publication: str
    kind: str
    title: str
    description: str
    home_url: str
    author: str
    language: str
    created_at: datetime
    hub_url: str | None = None
    icon_url: str = ""

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None:
            raise ValueError(f"feed {self.kind}: created_at must be timezone-aware")
        _printable(self, "title", "description", "author")

    def url(self, fmt: str) -> str:
        """This feed's own URL in a format (``rss``, ``atom`` or ``json``)."""
        return urls.feed(self.base_url, self.publication, self.kind, fmt)

    def updated(self, entries: Sequence[FeedEntry]) -> datetime:
        """The feed's last change: its newest entry's publication or update, or
        ``created_at`` when empty."""
        return max(
            (max(entry.published, entry.updated) for entry in entries), default=self.created_at
        )


def _printable(values: FeedEntry | FeedSpec, *names: str) -> None:
    """Text stored before the text rules held loses what no feed can carry (no 500s)."""
    for name in names:
        object.__setattr__(values, name, printable_text(getattr(values, name)))
