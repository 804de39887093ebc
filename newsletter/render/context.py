"""Turn an ``Edition`` into the values templates read (shared by email, text and web).

Templates get small frozen views rather than the edition itself, so that what a
template may use is written down here: URLs come from ``newsletter.urls`` and the
publication's look is validated once (the accent colour goes into CSS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from newsletter import urls
from newsletter.content.briefing import BriefingContent
from newsletter.content.edition import (
    CorrectionNotice,
    Edition,
    EditionItem,
    ItemStatus,
    PublicationInfo,
)
from newsletter.errors import InvalidInputError
from newsletter.render import placeholders
from newsletter.templating import check_colour, long_date, text_on, tint

PREHEADER_LENGTH = 140
# A shortened briefing in an email shows this much of its lede, cut at a word: its size
# is bounded whatever the briefing, which is what makes the email's budget a guarantee.
SUMMARY_LENGTH = 300


# What replaces a briefing's text when readers may no longer see it.
_NOTICES = {
    ItemStatus.WITHDRAWN: "This briefing was withdrawn",
    ItemStatus.EXPIRED: "This briefing expired",
}
REMOVED_NOTICE = "This briefing has been removed."


@dataclass(frozen=True)
class Dated:
    """A moment as pages show it: a long date in the publication's zone and ISO 8601 UTC."""

    label: str
    iso: str


@dataclass(frozen=True)
class NoteView:
    """One dated "Correction" note under a corrected briefing."""

    when: Dated
    note: str


@dataclass(frozen=True)
class TopicView:
    """A topic of a briefing, with its page when the publication has a slug for it."""

    name: str
    description: str
    url: str | None


@dataclass(frozen=True)
class NoticeView:
    """One line of an edition's "Corrections" block."""

    kind: str
    label: str  # "Correction" or "Withdrawn"
    title: str
    note: str
    when: Dated
    url: str


@dataclass(frozen=True)
class ItemView:
    """One briefing as a template shows it.

    ``notice`` is set when the text must not be shown (withdrawn, expired, taken
    down): templates show the notice instead of every section of the briefing.
    """

    number: int
    content: BriefingContent
    url: str
    shrunk: bool = False
    summary: str = ""  # when shrunk: the start of the lede, at most SUMMARY_LENGTH characters
    permalink: str = ""
    status: ItemStatus = ItemStatus.LIVE
    notice: str = ""
    corrections: tuple[NoteView, ...] = ()
    topics: tuple[TopicView, ...] = ()


def dated(moment: datetime, timezone: str) -> Dated:
    """``moment`` as a long date in ``timezone`` and as an ISO 8601 UTC timestamp."""
    local = moment.astimezone(ZoneInfo(timezone))
    iso = moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Dated(label=long_date(local.date()), iso=iso)


def notice_for(item: EditionItem, timezone: str) -> str:
    """The sentence shown instead of the item's text, or "" for a live item."""
    if item.status is ItemStatus.TAKEN_DOWN:
        return REMOVED_NOTICE
    lead = _NOTICES.get(item.status)
    if lead is None:
        return ""
    if item.updated_at is None:
        return f"{lead}."
    return f"{lead} on {dated(item.updated_at, timezone).label}."


def topic_views(edition: Edition, content: BriefingContent) -> tuple[TopicView, ...]:
    """The briefing's topics, each linked to its page when it has a slug."""
    pub = edition.publication
    # Another spelling of a registered topic ("climate" for "Climate") has its slug too.
    keyed = {_key(name): slug for name, slug in edition.topic_slugs}
    views = []
    for topic in content.topics:
        slug = edition.topic_slug(topic.name) or keyed.get(_key(topic.name))
        url = urls.topic_page(pub.base_url, pub.slug, slug) if slug else None
        views.append(TopicView(name=topic.name, description=topic.description, url=url))
    return tuple(views)


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


def notice_views(edition: Edition) -> list[NoticeView]:
    """The edition's "Corrections" block, oldest change first."""
    tz = edition.publication.timezone
    return [
        NoticeView(
            kind=notice.kind,
            label="Withdrawn" if notice.kind == "withdrawal" else "Correction",
            title=notice.title,
            note=notice.note,
            when=dated(notice.at, tz),
            url=notice.url,
        )
        for notice in sorted(edition.corrections, key=_notice_order)
    ]


def _notice_order(notice: CorrectionNotice) -> tuple[datetime, str]:
    return notice.at, notice.slug


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
        "on_accent": text_on(accent),
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
    slug = item.content.slug
    url = f"{edition_page_url(edition)}#{slug}"
    return ItemView(
        number=number,
        content=item.content,
        url=url,
        shrunk=shrunk,
        summary=preheader(item.content, SUMMARY_LENGTH) if shrunk else "",
        permalink=urls.briefing_page(pub.base_url, pub.slug, slug),
        status=item.status,
        notice=notice_for(item, pub.timezone),
        corrections=tuple(
            NoteView(when=dated(note.at, pub.timezone), note=note.note)
            for note in sorted(item.corrections, key=lambda note: note.at)
        ),
        topics=topic_views(edition, item.content),
    )


def edition_page_url(edition: Edition) -> str:
    """The edition's own web page: its date's, its weekly roundup's, its slot's, or its
    alert's (``Edition.page_url``)."""
    return edition.page_url()


def page_url(edition: Edition, edition_url: str) -> str:
    """The web page showing what ``edition`` carries: its variant's page, or the edition's."""
    if edition.variant_key is None:
        return edition_url
    return urls.variant_page(edition_url, edition.variant_key)


def edition_context(
    edition: Edition, *, shrink_last: int = 0, omit_last: int = 0
) -> dict[str, Any]:
    """Everything the digest and archive templates read.

    For an email that must fit its budget, the last ``omit_last`` items are left out
    (the first always stays) and the last ``shrink_last`` of the others shrunk.
    """
    if not edition.items:
        raise InvalidInputError(
            f"edition {edition.publication.slug} {edition.edition_date}: no briefings to render"
        )
    pub = edition.publication
    ordered = sorted(edition.items, key=lambda item: item.position)
    kept = ordered[: max(1, len(ordered) - omit_last)]
    first_shrunk = len(kept) - shrink_last
    edition_url = edition_page_url(edition)
    items = [
        item_view(edition, item, number, shrunk=number > first_shrunk)
        for number, item in enumerate(kept, start=1)
    ]
    return {
        **base_context(pub),
        "edition": edition,
        "publication": pub,
        "date_label": long_date(edition.edition_date),
        "items": items,
        "lead": items[0],
        # Never from a withdrawn, expired or removed briefing: the page's description
        # and the email's preview text must not carry text the newsroom took back.
        "preheader": next((preheader(i.content) for i in ordered if i.is_live), ""),
        "shrunk_count": shrink_last,
        "omitted_count": len(ordered) - len(kept),
        "total_count": len(ordered),
        "corrections": notice_views(edition),
        # The full edition's page (what "the full edition" links say) ...
        "edition_url": edition_url,
        # ... and the page of exactly what this email carries: a topic variant's own
        # page, so a variant reader's web link shows their briefings, no one else's.
        "page_url": page_url(edition, edition_url),
        "archive_url": urls.archive_index(pub.base_url, pub.slug),
    }
