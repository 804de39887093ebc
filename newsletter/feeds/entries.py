"""Feed entries from published editions: one per briefing, one per edition, per topic.

Only editions with ``published_at`` set (sent, or published without email) give
entries, so nothing reaches a feed before its edition is out. Entries come from
the edition's frozen snapshot through the same fragment renderer as the web
archive, so a feed entry, the web page and the email always say the same thing.

Entry ids are the entries' permanent archive URLs: the edition page for an edition,
the briefing's anchor on it (publication slug + edition date + briefing slug) for a
briefing. They are derived, never stored or regenerated, and stay the same as long
as the publication's base URL does. A briefing's id is the same in every feed it
appears in (the briefings feed and each of its topics' feeds).

Feed readers resolve relative links against the feed's URL, not the archive page
the fragment was written for, so every link in entry content is made absolute
against the edition's page (``#slug`` becomes ``https://…/p/pub/2026-03-04/#slug``).
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import urljoin

from markupsafe import escape

from newsletter import urls
from newsletter.briefings.derive import slugify
from newsletter.content.edition import Edition, EditionItem
from newsletter.errors import InvalidInputError
from newsletter.feeds.models import DEFAULT_LIMIT, FeedEntry
from newsletter.render.context import preheader
from newsletter.render.web import render_briefing_fragment
from newsletter.templating import long_date

TOPIC_SLUG_MAX = 80

# Attributes holding URLs in the fragment template. Jinja escapes every '"' in text
# and attribute values, so `href="` can only be the start of a real attribute.
_URL_ATTRIBUTE = re.compile(r'\b(href|src)="([^"]*)"')


def absolute_links(fragment: str, base_url: str) -> str:
    """``fragment`` with every ``href`` / ``src`` resolved against ``base_url``."""

    def resolve(match: re.Match[str]) -> str:
        url = urljoin(base_url, html.unescape(match.group(2)))
        return f'{match.group(1)}="{escape(url)}"'

    return _URL_ATTRIBUTE.sub(resolve, fragment)


def _fragment(edition: Edition, item: EditionItem) -> str:
    pub = edition.publication
    page = urls.edition_page(pub.base_url, pub.slug, edition.edition_date)
    return absolute_links(render_briefing_fragment(edition, item), page)


def topic_slug(name: str) -> str:
    """The URL slug of a topic's feed; names without ASCII letters get a stable hashed slug."""
    try:
        return slugify(name, max_length=TOPIC_SLUG_MAX)
    except InvalidInputError:
        # "東京" has no ASCII letters to slug; a hash of the name is stable and URL-safe.
        digest = hashlib.sha256(" ".join(name.casefold().split()).encode()).hexdigest()
        return f"topic-{digest[:12]}"


def published(editions: Iterable[Edition]) -> list[Edition]:
    """The published editions, newest first (by publication time, then edition date)."""
    out = [edition for edition in editions if edition.published_at is not None]
    out.sort(key=lambda e: (e.published_at, e.edition_date), reverse=True)
    return out


def topics_of(editions: Iterable[Edition]) -> dict[str, str]:
    """Every topic of the published editions: slug → name (the newest edition's spelling)."""
    found: dict[str, str] = {}
    for edition in published(editions):
        for item in _ordered(edition):
            for name in item.content.topic_names:
                found.setdefault(topic_slug(name), name)
    return dict(sorted(found.items()))


def _ordered(edition: Edition) -> list[EditionItem]:
    return sorted(edition.items, key=lambda item: item.position)


def _items(editions: Iterable[Edition]) -> Iterator[tuple[Edition, EditionItem]]:
    for edition in published(editions):
        for item in _ordered(edition):
            yield edition, item


def briefing_entry(edition: Edition, item: EditionItem) -> FeedEntry:
    """The feed entry of one briefing as frozen into a published edition."""
    if edition.published_at is None:
        raise InvalidInputError(
            f"edition {edition.publication.slug} {edition.edition_date}: not published"
        )
    pub = edition.publication
    content = item.content
    url = urls.briefing_in_edition(pub.base_url, pub.slug, edition.edition_date, content.slug)
    return FeedEntry(
        id=url,
        url=url,
        title=content.title,
        content_html=_fragment(edition, item),
        summary=preheader(content),
        published=edition.published_at,
        updated=edition.published_at,
        categories=content.topic_names,
        external_url=content.url,
    )


def edition_entry(edition: Edition) -> FeedEntry:
    """The feed entry of a whole published edition: every briefing, in order."""
    if edition.published_at is None:
        raise InvalidInputError(
            f"edition {edition.publication.slug} {edition.edition_date}: not published"
        )
    pub = edition.publication
    items = _ordered(edition)
    url = urls.edition_page(pub.base_url, pub.slug, edition.edition_date)
    topics = dict.fromkeys(name for item in items for name in item.content.topic_names)
    return FeedEntry(
        id=url,
        url=url,
        title=f"{pub.name}: {long_date(edition.edition_date)}",
        content_html="\n".join(_fragment(edition, item) for item in items),
        summary=" · ".join(item.content.title for item in items),
        published=edition.published_at,
        updated=edition.published_at,
        categories=tuple(topics),
    )


def entries_for_briefings(
    editions: Sequence[Edition], limit: int = DEFAULT_LIMIT
) -> list[FeedEntry]:
    """One entry per briefing of the published editions, newest edition first, at most ``limit``."""
    _check_limit(limit)
    return _take((briefing_entry(e, item) for e, item in _items(editions)), limit)


def entries_for_editions(
    editions: Sequence[Edition], limit: int = DEFAULT_LIMIT
) -> list[FeedEntry]:
    """One entry per published edition, newest first, at most ``limit``."""
    _check_limit(limit)
    return _take((edition_entry(e) for e in published(editions) if e.items), limit)


def entries_for_topic(
    editions: Sequence[Edition], slug: str, limit: int = DEFAULT_LIMIT
) -> list[FeedEntry]:
    """The briefing entries tagged with the topic whose slug is ``slug``, newest first."""
    _check_limit(limit)
    matching = (
        briefing_entry(e, item)
        for e, item in _items(editions)
        if any(topic_slug(name) == slug for name in item.content.topic_names)
    )
    return _take(matching, limit)


def _take(entries: Iterator[FeedEntry], limit: int) -> list[FeedEntry]:
    # A generator, so briefings past the limit are never rendered.
    out: list[FeedEntry] = []
    for entry in entries:
        if len(out) == limit:
            break
        out.append(entry)
    return out


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise InvalidInputError(f"feed limit must be at least 1, got {limit}")
