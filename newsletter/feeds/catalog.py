"""Which feeds a publication has, and building any one of them in any format.

A publication has a briefings feed, an editions feed and one feed per topic of its
published briefings (plus the topics it is scoped to, so readers can follow a topic
before its first briefing, and every topic its registry knows, so a feed URL once
given keeps answering), each in RSS, Atom and JSON Feed. Topic feeds are named by the
publication's stable topic slugs (``newsletter.publications.topics``): "C++", "C#"
and "C" are three feeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from newsletter import urls
from newsletter.content.edition import Edition, PublicationInfo
from newsletter.errors import NotFoundError
from newsletter.feeds.entries import (
    entries_for_briefings,
    entries_for_editions,
    entries_for_topic,
    topic_slug,
    topics_of,
)
from newsletter.feeds.jsonfeed import build_json_feed
from newsletter.feeds.models import (
    DEFAULT_LIMIT,
    KIND_BRIEFINGS,
    KIND_EDITIONS,
    TOPIC_KIND_PREFIX,
    FeedEntry,
    FeedSpec,
    topic_kind,
)
from newsletter.feeds.xml import build_atom, build_rss
from newsletter.i18n import gettext_for
from newsletter.publications.topics import name_key

BUILDERS: dict[str, Callable[[FeedSpec, Sequence[FeedEntry]], bytes]] = {
    "rss": build_rss,
    "atom": build_atom,
    "json": build_json_feed,
}


@dataclass(frozen=True)
class Feed:
    """One feed of a publication: its description and its entries, newest first."""

    spec: FeedSpec
    entries: tuple[FeedEntry, ...]

    def render(self, fmt: str) -> bytes:
        """The feed's document in ``fmt`` (``rss``, ``atom`` or ``json``)."""
        if fmt not in BUILDERS:
            raise NotFoundError(f"unknown feed format {fmt!r} (expected rss, atom or json)")
        return BUILDERS[fmt](self.spec, self.entries)

    @property
    def updated(self) -> datetime:
        """When the feed last changed (its newest entry, or the publication's creation)."""
        return self.spec.updated(self.entries)


@dataclass(frozen=True)
class Source:
    """What every feed of one publication is built from."""

    publication: PublicationInfo
    editions: tuple[Edition, ...]
    created_at: datetime
    hub_url: str | None = None
    scoped_topics: tuple[str, ...] = ()
    limit: int = DEFAULT_LIMIT
    # The publication's topic registry: name → stable slug (empty: slugs from names).
    topic_slugs: tuple[tuple[str, str], ...] = ()

    def slug_for(self, name: str) -> str:
        """The stable slug of a topic name (any spelling of a registered topic)."""
        keyed = {name_key(known): slug for known, slug in self.topic_slugs}
        return keyed.get(name_key(name)) or topic_slug(name)

    def topics(self) -> dict[str, str]:
        """Every topic with a feed: slug → name."""
        found = {slug: name for name, slug in self.topic_slugs}
        found.update((self.slug_for(name), name) for name in self.scoped_topics)
        found.update(topics_of(self.editions))
        return dict(sorted(found.items()))


def _spec(source: Source, kind: str, title: str, description: str) -> FeedSpec:
    pub = source.publication
    return FeedSpec(
        base_url=pub.base_url,
        publication=pub.slug,
        kind=kind,
        title=title,
        description=description,
        home_url=urls.archive_index(pub.base_url, pub.slug),
        author=pub.name,
        language=pub.language,
        created_at=source.created_at,
        hub_url=source.hub_url,
        icon_url=pub.logo_url,
    )


def feed_for(source: Source, kind: str) -> Feed:
    """The feed of ``kind`` (``briefings``, ``editions`` or ``topics/<slug>``), or NotFoundError."""
    pub = source.publication
    lang = pub.language  # a feed's titles are in its publication's language
    tagline = pub.tagline or pub.name
    if kind == KIND_BRIEFINGS:
        spec = _spec(source, kind, pub.name, tagline)
        return Feed(spec, tuple(entries_for_briefings(source.editions, source.limit)))
    if kind == KIND_EDITIONS:
        names = {"publication": pub.name}
        title = gettext_for(lang, "%(publication)s: editions") % names
        description = gettext_for(lang, "Every edition of %(publication)s") % names
        spec = _spec(source, kind, title, description)
        return Feed(spec, tuple(entries_for_editions(source.editions, source.limit)))
    if kind.startswith(TOPIC_KIND_PREFIX):
        slug = kind.removeprefix(TOPIC_KIND_PREFIX)
        name = source.topics().get(slug)
        if name is None:
            raise NotFoundError(f"publication {pub.slug!r} has no topic {slug!r}")
        names = {"publication": pub.name, "topic": name}
        description = gettext_for(lang, "%(publication)s briefings on %(topic)s") % names
        spec = _spec(source, kind, f"{pub.name}: {name}", description)
        return Feed(spec, tuple(entries_for_topic(source.editions, slug, source.limit)))
    raise NotFoundError(f"unknown feed {kind!r} (expected briefings, editions or topics/<topic>)")


def all_feeds(source: Source) -> Iterator[Feed]:
    """Every feed of the publication: briefings, editions, then each topic by slug."""
    yield feed_for(source, KIND_BRIEFINGS)
    yield feed_for(source, KIND_EDITIONS)
    for slug in source.topics():
        yield feed_for(source, topic_kind(slug))
