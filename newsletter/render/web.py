"""Render the web archive: edition pages, briefing pages, topic pages and the indexes.

The pages come from the same ``Edition`` values as the email and carry their own
CSS, in the publication's language unless ``language`` names another (words from the
``web`` catalogs, dates by CLDR, ``lang`` and ``dir`` on ``<html>``). Each head
advertises the feeds that fit the page (``<link rel="alternate">``): the briefings and
editions feeds on the archive index and edition pages, the briefings feed on a
briefing's page, a topic's feeds on its page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from newsletter import i18n, urls
from newsletter.content.edition import Cadence, Edition, EditionItem, PublicationInfo
from newsletter.errors import InvalidInputError
from newsletter.i18n import gettext_for
from newsletter.render.context import brand, edition_context, item_view
from newsletter.templating import environment, long_date

# (label, media type, format key of urls.FEED_FORMATS), in the order pages list them.
FEED_TYPES = (
    ("RSS", "application/rss+xml", "rss"),
    ("Atom", "application/atom+xml", "atom"),
    ("JSON Feed", "application/feed+json", "json"),
)


# How pages name a weekly roundup (the archive's mark, the page's heading), in English.
WEEKLY_LABEL = "Weekly roundup"
ALERT_LABEL = "Alert"


def page_language(publication: PublicationInfo, language: str | None) -> str:
    """The language a page is written in: ``language``, else the publication's."""
    return language or publication.language


def weekly_label(language: str) -> str:
    """How a page names a weekly roundup, in ``language``."""
    return gettext_for(language, "Weekly roundup")


def alert_label(language: str) -> str:
    """How a page names an alert, in ``language``."""
    return gettext_for(language, "Alert")


@dataclass(frozen=True)
class ArchiveEntry:
    """One line of the archive index: an edition's date, title, page and size (and kind)."""

    edition_date: date
    title: str
    url: str
    briefing_count: int
    weekly: bool = False
    alert: bool = False
    # The named slot of the date's edition ("morning", "evening"); "" the main schedule.
    slot: str = ""


@dataclass(frozen=True)
class FeedGroup:
    """One feed (briefings, editions or a topic) in its three formats: (label, type, URL)."""

    name: str
    links: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class TopicEntry:
    """One topic on the topics index: its name, page and feeds."""

    name: str
    url: str
    feeds: FeedGroup


@dataclass(frozen=True)
class BriefingEntry:
    """One briefing on a topic page: its title, own page and edition."""

    title: str
    url: str
    edition_date: date
    edition_url: str


def feed_group(publication: PublicationInfo, kind: str, name: str) -> FeedGroup:
    """The feed of ``kind`` (``briefings``, ``editions``, ``topics/<slug>``) in every format."""
    return FeedGroup(
        name=name,
        links=tuple(
            (label, media, urls.feed(publication.base_url, publication.slug, kind, fmt))
            for label, media, fmt in FEED_TYPES
        ),
    )


def briefings_feeds(
    publication: PublicationInfo, language: str = i18n.DEFAULT_LANGUAGE
) -> FeedGroup:
    """The publication's briefings feed (named in ``language``)."""
    return feed_group(publication, "briefings", gettext_for(language, "Briefings"))


def editions_feeds(
    publication: PublicationInfo, language: str = i18n.DEFAULT_LANGUAGE
) -> FeedGroup:
    """The publication's editions feed (one entry per edition; named in ``language``)."""
    return feed_group(publication, "editions", gettext_for(language, "Editions"))


def topic_feeds(publication: PublicationInfo, name: str, slug: str) -> FeedGroup:
    """The feed of one topic of the publication."""
    return feed_group(publication, f"topics/{slug}", name)


def _render(path: str, context: Mapping[str, Any], language: str) -> str:
    return environment(language=language).get_template(path).render(context)


def _frame(
    publication: PublicationInfo, feeds: Sequence[FeedGroup], language: str
) -> dict[str, Any]:
    """What ``web/archive/_layout.html`` reads."""
    pub = publication
    return {
        "lang": language if language != i18n.PSEUDO else pub.language,
        "brand": brand(pub),
        "feeds": list(feeds),
        "publication": pub,
        "topics_url": urls.topics_index(pub.base_url, pub.slug),
        "opml_url": urls.opml(pub.base_url, pub.slug),
        # Every archive page offers the sign-up form of the publication's default list.
        "subscribe_url": urls.subscribe_page(pub.base_url, pub.slug),
    }


def edition_page_context(edition: Edition, language: str) -> dict[str, Any]:
    """What ``web/archive/edition.html`` reads, in ``language`` (the variant page's too)."""
    pub = edition.publication
    frame = _frame(pub, [briefings_feeds(pub, language), editions_feeds(pub, language)], language)
    context = {**edition_context(edition, language=language), **frame, "kind_label": ""}
    if edition.cadence is Cadence.WEEKLY:
        context.update(edition_url=edition.page_url(), kind_label=weekly_label(language))
    elif edition.is_alert:
        context.update(kind_label=alert_label(language))
    elif edition.slot_name:
        context.update(kind_label=edition.slot_name.capitalize())
    return context


def render_edition_page(edition: Edition, *, language: str | None = None) -> str:
    """The standalone HTML5 archive page of an edition (or of a weekly roundup: its own
    address, and a heading that says so), in ``language`` (default the publication's)."""
    lang = page_language(edition.publication, language)
    return _render("web/archive/edition.html", edition_page_context(edition, lang), lang)


def render_archive_index(
    publication: PublicationInfo,
    editions: Sequence[ArchiveEntry],
    *,
    language: str | None = None,
) -> str:
    """The list of a publication's editions, in the order given."""
    lang = page_language(publication, language)
    feeds = [briefings_feeds(publication, lang), editions_feeds(publication, lang)]
    return _render(
        "web/archive/index.html",
        {**_frame(publication, feeds, lang), "entries": list(editions)},
        lang,
    )


def _find(edition: Edition, item: EditionItem) -> int:
    ordered = sorted(edition.items, key=lambda each: each.position)
    if item not in ordered:
        raise InvalidInputError(
            f"briefing {item.content.slug!r} is not part of edition {edition.edition_date}"
        )
    return ordered.index(item) + 1


def render_briefing_fragment(
    edition: Edition, item: EditionItem, *, language: str | None = None
) -> str:
    """One briefing as an ``<article>`` HTML fragment (for the archive page and feeds)."""
    lang = page_language(edition.publication, language)
    view = item_view(edition, item, _find(edition, item), language=lang)
    return _render("web/_briefing.html", {"item": view}, lang).strip() + "\n"


def render_briefing_page(
    edition: Edition, item: EditionItem, *, language: str | None = None
) -> str:
    """A briefing's own page, as the edition that carried it shows it now."""
    pub = edition.publication
    lang = page_language(pub, language)
    view = item_view(edition, item, _find(edition, item), language=lang)
    context = {
        **_frame(pub, [briefings_feeds(pub, lang)], lang),
        "item": view,
        "date_label": long_date(edition.edition_date, lang),
        "edition_url": edition.page_url(),
        "canonical": view.permalink,
    }
    return _render("web/archive/briefing.html", context, lang)


def render_topics_index(
    publication: PublicationInfo,
    topics: Sequence[tuple[str, str]],
    *,
    language: str | None = None,
) -> str:
    """A publication's topics, each (name, slug) with its page and feeds, in the order given."""
    pub = publication
    lang = page_language(pub, language)
    entries = [
        TopicEntry(
            name=name,
            url=urls.topic_page(pub.base_url, pub.slug, slug),
            feeds=topic_feeds(pub, name, slug),
        )
        for name, slug in topics
    ]
    feeds = [briefings_feeds(pub, lang), editions_feeds(pub, lang)]
    return _render("web/archive/topics.html", {**_frame(pub, feeds, lang), "topics": entries}, lang)


def render_topic_page(
    publication: PublicationInfo,
    name: str,
    slug: str,
    briefings: Sequence[BriefingEntry],
    *,
    language: str | None = None,
) -> str:
    """One topic's page: its briefings in the order given, and its feeds."""
    pub = publication
    lang = page_language(pub, language)
    context = {
        **_frame(pub, [topic_feeds(pub, name, slug)], lang),
        "topic": name,
        "canonical": urls.topic_page(pub.base_url, pub.slug, slug),
        "briefings": list(briefings),
    }
    return _render("web/archive/topic.html", context, lang)
