"""Feed entries from published editions: one per briefing, one per edition, per topic.

Only editions with ``published_at`` set (sent, or published without email) give
entries, so nothing reaches a feed before its edition is out. Entries come from
the edition as the public sees it now (corrected text, correction notes, statuses)
through the same fragment renderer as the web archive, so a feed entry and the web
page always say the same thing. Briefings no longer live (withdrawn, expired, taken
down) leave the briefings and topic feeds; the edition entry shows their notice.

Entry ids are the entries' permanent archive URLs: the edition page for an edition,
the briefing's anchor on it (publication slug + edition date + briefing slug) for a
briefing. They are derived, never stored or regenerated, and stay the same as long
as the publication's base URL does, so a correction updates an entry instead of
adding one. A briefing's id is the same in every feed it appears in (the briefings
feed and each of its topics' feeds). Its link is the briefing's own page, so no two
entries share a link (parsers that drop ``#fragments`` would merge them), and RSS
marks its guid ``isPermaLink="false"``.

A weekly roundup is an edition too: the editions feed carries it, with its own id
(its own page, ``/p/pub/weekly/<date>/``, never the daily edition's of that date),
"weekly roundup" in its title and ``Weekly roundup`` as its first category. The
briefings and topic feeds take briefings from daily editions only, since a roundup
repeats briefings the daily editions carried (one entry per briefing).

An alert is an edition too (one briefing, sent at once): the editions feed carries it
with its own id (its page, ``/p/pub/alerts/<key>/``), "alert" and its headline in its
title and ``Alert`` as its first category. Its briefing reaches the briefings and topic
feeds with the next daily edition that carries it, like any other.

Feed readers resolve relative links against the feed's URL, not the archive page
the fragment was written for, so every link in entry content is made absolute
against the edition's page (``#slug`` becomes ``https://…/p/pub/2026-03-04/#slug``).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from urllib.parse import urljoin

from markupsafe import escape

from newsletter import urls
from newsletter.content.edition import Cadence, Edition, EditionItem
from newsletter.errors import InvalidInputError
from newsletter.feeds.models import DEFAULT_LIMIT, FeedEntry
from newsletter.i18n import gettext_for
from newsletter.publications.topics import base_slug
from newsletter.render.context import edition_page_url, preheader
from newsletter.render.web import render_briefing_fragment
from newsletter.templating import long_date

# Attributes holding URLs in the fragment template. Jinja escapes every '"' in text
# and attribute values, so `href="` can only be the start of a real attribute.
_URL_ATTRIBUTE = re.compile(r'\b(href|src)="([^"]*)"')


def absolute_links(fragment: str, base_url: str) -> str:
    """``fragment`` with every ``href`` / ``src`` resolved against ``base_url``."""

    def resolve(match: re.Match[str]) -> str:
        url = urljoin(base_url, html.unescape(match.group(2)))
        return f'{match.group(1)}="{escape(url)}"'

    return _URL_ATTRIBUTE.sub(resolve, fragment)


# The category and title words that say an editions-feed entry is a weekly roundup
# (in English; a feed in another language carries their translation).
WEEKLY_CATEGORY = "Weekly roundup"
# The same for an alert: one briefing sent at once, outside the schedule.
ALERT_CATEGORY = "Alert"


def is_weekly(edition: Edition) -> bool:
    """Whether the edition is a weekly roundup (not a daily edition)."""
    return edition.cadence is Cadence.WEEKLY


def edition_url(edition: Edition) -> str:
    """The edition's page: its date's daily page, its weekly roundup's or its alert's own."""
    return edition_page_url(edition)


def _fragment(edition: Edition, item: EditionItem) -> str:
    return absolute_links(render_briefing_fragment(edition, item), edition_url(edition))


@functools.lru_cache(maxsize=8192)
def topic_slug(name: str) -> str:
    """The slug a topic gets when no registry names it (its registry base slug).

    Published editions carry the publication's registered slugs (``Edition.topic_slugs``,
    unique per publication: "C++", "C#" and "C" get three); this is the fallback for
    plain values built without them, and is the registry's own first choice.
    """
    return base_slug(name)


def slug_of(edition: Edition, name: str) -> str:
    """The stable slug of topic ``name`` as this edition's publication registered it."""
    return edition.topic_slug(name) or topic_slug(name)


def published(editions: Iterable[Edition]) -> list[Edition]:
    """The published editions, newest first (by publication time, then edition date)."""
    out = [edition for edition in editions if edition.published_at is not None]
    out.sort(key=lambda e: (e.published_at, e.edition_date), reverse=True)
    return out


def topics_of(editions: Iterable[Edition]) -> dict[str, str]:
    """Every topic of the live briefings of published editions: slug → name (newest spelling)."""
    found: dict[str, str] = {}
    for edition, item in _items(editions):
        for name in item.content.topic_names:
            found.setdefault(slug_of(edition, name), name)
    return dict(sorted(found.items()))


def _ordered(edition: Edition) -> list[EditionItem]:
    return sorted(edition.items, key=lambda item: item.position)


def _items(editions: Iterable[Edition]) -> Iterator[tuple[Edition, EditionItem]]:
    """The live briefings of the published daily editions, newest edition first, in order.

    Withdrawn, expired and taken-down briefings are left out: their entries leave the
    briefings and topic feeds (a reader's next poll drops them); only the edition
    entry still shows where they were, as their notice. Weekly roundups are left out:
    their briefings have their entries from the daily editions that carried them.
    """
    for edition in published(editions):
        if edition.cadence is not Cadence.DAILY:
            continue
        for item in _ordered(edition):
            if item.is_live:
                yield edition, item


def _published_at(edition: Edition) -> datetime:
    if edition.published_at is None:
        raise InvalidInputError(
            f"edition {edition.publication.slug} {edition.edition_date}: not published"
        )
    return edition.published_at


def item_updated(edition: Edition, item: EditionItem) -> datetime:
    """When a briefing's entry last changed in a way readers should see.

    A correction, withdrawal or takedown is dated by ``item.updated_at``. Before any,
    the text last changed when its revision was approved (``approved_at``), which
    precedes the edition's publication; it is capped by the publication time in case
    a clock disagreed. Each briefing so keeps a date of its own, true to what
    happened, instead of all briefings of an edition sharing the publication time
    (feed validators warn about entries with one ``updated``). Briefings approved in
    the same instant still share it: nothing true tells them apart.
    """
    published_at = _published_at(edition)
    if item.updated_at is not None:
        return max(item.updated_at, min(item.approved_at, published_at))
    return min(item.approved_at, published_at)


def briefing_entry(edition: Edition, item: EditionItem) -> FeedEntry:
    """The feed entry of one briefing as published (corrected text and notes included).

    Its link is the briefing's own page; its id stays the anchor on its edition's
    page, as first published, so readers that saw it keep one entry.
    """
    published_at = _published_at(edition)
    pub = edition.publication
    content = item.content
    anchor = urls.briefing_in_edition(
        pub.base_url, pub.slug, edition.edition_date, content.slug, slot=edition.slot_name
    )
    return FeedEntry(
        id=anchor,
        url=urls.briefing_page(pub.base_url, pub.slug, content.slug),
        title=content.title,
        content_html=_fragment(edition, item),
        summary=preheader(content),
        published=published_at,
        updated=item_updated(edition, item),
        categories=content.topic_names,
        external_url=content.url,
    )


def edition_entry(edition: Edition) -> FeedEntry:
    """The feed entry of a whole published edition: every briefing in order, a notice for
    those no longer live (the fragment shows only the notice for them)."""
    published_at = _published_at(edition)
    pub = edition.publication
    items = _ordered(edition)
    live = [item for item in items if item.is_live]
    url = edition_url(edition)
    topics = dict.fromkeys(name for item in live for name in item.content.topic_names)
    changed = [item.updated_at for item in items if item.updated_at is not None]
    lang = pub.language
    day = long_date(edition.edition_date, lang)
    title = f"{pub.name}: {day}"
    if edition.slot_name:  # one entry per slot's edition of the date, each its own id
        title = f"{title}, {edition.slot_name}"
    kind: tuple[str, ...] = ()
    if is_weekly(edition):
        weekly = gettext_for(lang, "%(publication)s: weekly roundup, %(date)s")
        title = weekly % {"publication": pub.name, "date": day}
        kind = (gettext_for(lang, "Weekly roundup"),)
    elif edition.is_alert and items:
        alert = gettext_for(lang, "%(publication)s: alert, %(title)s")
        title = alert % {"publication": pub.name, "title": items[0].content.title}
        kind = (gettext_for(lang, "Alert"),)
    return FeedEntry(
        id=url,
        url=url,
        title=title,
        content_html="\n".join(_fragment(edition, item) for item in items),
        summary=" · ".join(item.content.title for item in live),
        published=published_at,
        updated=max([published_at, *changed]),
        categories=kind + tuple(topic for topic in topics if topic not in kind),
    )


def entries_for_briefings(
    editions: Sequence[Edition], limit: int = DEFAULT_LIMIT
) -> list[FeedEntry]:
    """One entry per live briefing of the published editions, newest edition first,
    at most ``limit``."""
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
    """The live briefing entries tagged with the topic whose slug is ``slug``, newest first."""
    _check_limit(limit)
    matching = (
        briefing_entry(e, item)
        for e, item in _items(editions)
        if any(slug_of(e, name) == slug for name in item.content.topic_names)
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
