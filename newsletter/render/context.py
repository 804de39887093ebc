"""Turn an ``Edition`` into the values templates read (shared by email, text and web).

Templates get small frozen views rather than the edition itself, so that what a
template may use is written down here: URLs come from ``newsletter.urls`` and the
publication's look is validated once (the accent colour goes into CSS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_skeleton

from newsletter import i18n, urls
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
from newsletter.render.typography import look
from newsletter.templating import check_colour, text_on, tint

PREHEADER_LENGTH = 140
# A shortened briefing in an email shows this much of its lede, cut at a word: its size
# is bounded whatever the briefing, which is what makes the email's budget a guarantee.
SUMMARY_LENGTH = 300


def marked(message: str) -> str:
    """Mark ``message`` for extraction (call it as ``_``); it is translated where it is
    used, with ``i18n.gettext_for``."""
    return message


_ = marked


# What replaces a briefing's text when readers may no longer see it ("%(date)s": the
# long date of the change).
_NOTICES = {
    ItemStatus.WITHDRAWN: (
        _("This briefing was withdrawn."),
        _("This briefing was withdrawn on %(date)s."),
    ),
    ItemStatus.EXPIRED: (_("This briefing expired."), _("This briefing expired on %(date)s.")),
}
REMOVED_NOTICE = _("This briefing has been removed.")


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


def language_of(publication: PublicationInfo, language: str | None) -> str:
    """``language`` (checked, canonical), or the publication's when it is ``None``."""
    return checked_language(publication.language if language is None else language)


def checked_language(tag: str) -> str:
    """``tag`` in canonical form (``i18n.check_language``); the pseudo-locale as it is."""
    return tag if tag == i18n.PSEUDO else i18n.check_language(tag, field="language")


def long_date(value: date, language: str) -> str:
    """``value`` written out in full in ``language`` ("Wednesday 4 March 2026")."""
    return i18n.long_date(value, language)


def day_month(value: date, language: str) -> str:
    """Day and month as a subject line has room for: "4 March", "4. März", "3월 4일"."""
    locale = i18n.babel_locale(language)
    if locale.language == "en":
        return format_date(value, "d MMMM", locale=locale)
    return format_skeleton("MMMMd", value, locale=locale)


def dated(moment: datetime, timezone: str, language: str = i18n.DEFAULT_LANGUAGE) -> Dated:
    """``moment`` as a long date in ``timezone`` and as an ISO 8601 UTC timestamp."""
    local = moment.astimezone(ZoneInfo(timezone))
    iso = moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Dated(label=long_date(local.date(), language), iso=iso)


def notice_for(item: EditionItem, timezone: str, language: str = i18n.DEFAULT_LANGUAGE) -> str:
    """The sentence shown instead of the item's text, or "" for a live item."""
    if item.status is ItemStatus.TAKEN_DOWN:
        return i18n.gettext_for(language, REMOVED_NOTICE)
    sentences = _NOTICES.get(item.status)
    if sentences is None:
        return ""
    undated, on_date = sentences
    if item.updated_at is None:
        return i18n.gettext_for(language, undated)
    label = dated(item.updated_at, timezone, language).label
    return i18n.gettext_for(language, on_date) % {"date": label}


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


def notice_views(edition: Edition, language: str = i18n.DEFAULT_LANGUAGE) -> list[NoticeView]:
    """The edition's "Corrections" block, oldest change first."""
    tz = edition.publication.timezone
    withdrawn = i18n.gettext_for(language, _("Withdrawn"))
    corrected = i18n.gettext_for(language, _("Correction"))
    return [
        NoticeView(
            kind=notice.kind,
            label=withdrawn if notice.kind == "withdrawal" else corrected,
            title=notice.title,
            note=notice.note,
            when=dated(notice.at, tz, language),
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


def base_context(publication: PublicationInfo, *, language: str | None = None) -> dict[str, Any]:
    """What ``email/layout`` needs besides ``title`` and ``preheader``, in ``language``
    (the publication's by default)."""
    return {
        **language_context(language_of(publication, language)),
        "brand": brand(publication),
        "links": recipient_links(),
    }


def language_context(tag: str) -> dict[str, Any]:
    """The values of the base templates that follow the language (``tag`` checked)."""
    return {
        "lang": i18n.DEFAULT_LANGUAGE if tag == i18n.PSEUDO else tag,
        "language": tag,
        "look": look(tag),
    }


def preheader(content: BriefingContent, limit: int = PREHEADER_LENGTH) -> str:
    """The first lede paragraph, cut at a word boundary to about ``limit`` characters."""
    text = " ".join(content.lede[0].split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def item_view(
    edition: Edition,
    item: EditionItem,
    number: int,
    *,
    shrunk: bool = False,
    language: str = i18n.DEFAULT_LANGUAGE,
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
        notice=notice_for(item, pub.timezone, language),
        corrections=tuple(
            NoteView(when=dated(note.at, pub.timezone, language), note=note.note)
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
    edition: Edition, *, shrink_last: int = 0, omit_last: int = 0, language: str | None = None
) -> dict[str, Any]:
    """Everything the digest and archive templates read, in ``language`` (the
    publication's by default): dates, notices and labels written in it.

    For an email that must fit its budget, the last ``omit_last`` items are left out
    (the first always stays) and the last ``shrink_last`` of the others shrunk.
    """
    if not edition.items:
        raise InvalidInputError(
            f"edition {edition.publication.slug} {edition.edition_date}: no briefings to render"
        )
    pub = edition.publication
    base = base_context(pub, language=language)
    tag = base["language"]
    ordered = sorted(edition.items, key=lambda item: item.position)
    kept = ordered[: max(1, len(ordered) - omit_last)]
    first_shrunk = len(kept) - shrink_last
    edition_url = edition_page_url(edition)
    items = [
        item_view(edition, item, number, shrunk=number > first_shrunk, language=tag)
        for number, item in enumerate(kept, start=1)
    ]
    return {
        **base,
        "edition": edition,
        "publication": pub,
        "date_label": long_date(edition.edition_date, tag),
        "day_label": day_month(edition.edition_date, tag),
        "items": items,
        "lead": items[0],
        # Never from a withdrawn, expired or removed briefing: the page's description
        # and the email's preview text must not carry text the newsroom took back.
        "preheader": next((preheader(i.content) for i in ordered if i.is_live), ""),
        "shrunk_count": shrink_last,
        "omitted_count": len(ordered) - len(kept),
        "total_count": len(ordered),
        "corrections": notice_views(edition, tag),
        # The full edition's page (what "the full edition" links say) ...
        "edition_url": edition_url,
        # ... and the page of exactly what this email carries: a topic variant's own
        # page, so a variant reader's web link shows their briefings, no one else's.
        "page_url": page_url(edition, edition_url),
        "archive_url": urls.archive_index(pub.base_url, pub.slug),
    }
