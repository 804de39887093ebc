"""Build the public pages around briefings: a briefing's own page, topic pages, OPML.

Briefing and topic pages come from daily editions only: a weekly roundup repeats
briefings the daily editions carried, and a briefing has one page, on its edition.

Every page shows what the publication stands behind now: editions come through
the public view (``newsletter.digests.public.public_edition``: corrected text with
its notes, withdrawn or expired briefings as a notice, taken-down ones without any
text). Builders take a session and return the page, so the web app and
``newsletter feeds export`` serve and write the same bytes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter import urls
from newsletter.briefings.models import Briefing, BriefingCorrection, CorrectionKind
from newsletter.content.edition import Cadence, Edition, EditionItem
from newsletter.digests.models import Digest, DigestItem
from newsletter.digests.public import public_edition, public_editions
from newsletter.errors import NotFoundError
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication, publication_info
from newsletter.publications.topics import name_key, topic_slugs
from newsletter.render.opml import render_opml
from newsletter.render.web import (
    BriefingEntry,
    render_briefing_page,
    render_edition_page,
    render_topic_page,
    render_topics_index,
)


@dataclass(frozen=True)
class TopicPage:
    """A topic's slug and its rendered page."""

    slug: str
    html: str


def topics_of(session: Session, publication: Publication) -> list[tuple[str, str]]:
    """Every registered topic of the publication as (name, slug), by name."""
    found = topic_slugs(session, publication)
    return sorted(found.items(), key=lambda pair: (pair[0].casefold(), pair[0]))


def current_editions(
    session: Session, publication: Publication, only: Collection[int] | None = None
) -> list[Edition]:
    """The publication's published daily editions (or ``only`` these digest ids) as the
    public sees them now, newest first (weekly roundups: see the module docstring)."""
    query = (
        select(Digest)
        .where(
            Digest.publication_id == publication.id,
            Digest.published_at.is_not(None),
            Digest.cadence == Cadence.DAILY,
        )
        .order_by(Digest.edition_date.desc(), Digest.cutoff_at.desc())
        .options(selectinload(Digest.items))
    )
    if only is not None:
        query = query.where(Digest.id.in_(sorted(only)))
    return public_editions(session, list(session.scalars(query).all()))


def _digests_on(session: Session, publication: Publication, key: str) -> set[int]:
    """The published digests that may carry a briefing on the topic with this name key.

    Read from the frozen snapshots' topics (cheap: no validation, no public view), plus every
    digest carrying a corrected briefing, whose corrected text may have gained the topic.
    """
    carried = (
        select(DigestItem.digest_id, DigestItem.briefing_id, DigestItem.content["topics"])
        .join(Digest, Digest.id == DigestItem.digest_id)
        .where(
            DigestItem.publication_id == publication.id,
            DigestItem.cadence == Cadence.DAILY,
            Digest.published_at.is_not(None),
        )
    )
    corrected = set(
        session.scalars(
            select(BriefingCorrection.briefing_id)
            .join(DigestItem, DigestItem.briefing_id == BriefingCorrection.briefing_id)
            .where(
                DigestItem.publication_id == publication.id,
                BriefingCorrection.kind == CorrectionKind.CORRECTION,
            )
        )
    )
    found: set[int] = set()
    for digest_id, briefing_id, topics in session.execute(carried):
        topics = topics or []
        if briefing_id in corrected or any(name_key(str(t.get("name", ""))) == key for t in topics):
            found.add(digest_id)
    return found


def _ordered(edition: Edition) -> list[EditionItem]:
    return sorted(edition.items, key=lambda item: item.position)


def briefing_html(session: Session, publication: str, slug: str) -> str:
    """A briefing's page in a publication; never published there: ``NotFoundError``."""
    row = get_publication(session, publication)
    found = session.execute(
        select(Digest, DigestItem.briefing_id)
        .join(DigestItem, DigestItem.digest_id == Digest.id)
        .join(Briefing, Briefing.id == DigestItem.briefing_id)
        .where(
            DigestItem.publication_id == row.id,
            DigestItem.cadence == Cadence.DAILY,
            Briefing.slug == slug,
            Digest.published_at.is_not(None),
        )
        .order_by(Digest.edition_date.desc())
        .limit(1)
    ).first()
    if found is None:
        raise NotFoundError(f"{row.name} has published no briefing {slug!r}")
    digest, briefing_id = found
    edition = public_edition(session, digest)
    item = next(each for each in edition.items if each.briefing_id == briefing_id)
    return render_briefing_page(edition, item)


def briefing_pages(
    session: Session, publication: str, editions: Sequence[Edition] | None = None
) -> Iterator[tuple[str, str]]:
    """(slug, page) of every briefing the publication has published (from ``editions``,
    its ``current_editions``, when the caller has them already)."""
    row = get_publication(session, publication)
    for edition in current_editions(session, row) if editions is None else editions:
        for item in _ordered(edition):
            yield item.content.slug, render_briefing_page(edition, item)


def topics_html(session: Session, publication: str) -> str:
    """The publication's topics index: every topic with its page and feeds."""
    row = get_publication(session, publication)
    return render_topics_index(publication_info(row), topics_of(session, row))


def _entries(
    editions: Sequence[Edition], topics: list[tuple[str, str]]
) -> dict[str, list[BriefingEntry]]:
    """Topic slug → the live briefings on it, newest edition first, in edition order.

    Briefings spell a topic as they like ("climate", "Climate"): they match by key.
    """
    slugs = {name_key(name): slug for name, slug in topics}
    out: dict[str, list[BriefingEntry]] = {slug: [] for _, slug in topics}
    for edition in editions:
        pub = edition.publication
        edition_url = edition.page_url()
        for item in _ordered(edition):
            if not item.is_live:
                continue
            entry = BriefingEntry(
                title=item.content.title,
                url=urls.briefing_page(pub.base_url, pub.slug, item.content.slug),
                edition_date=edition.edition_date,
                edition_url=edition_url,
            )
            keys = (name_key(name) for name in item.content.topic_names)
            for slug in dict.fromkeys(slugs[key] for key in keys if key in slugs):
                out[slug].append(entry)
    return out


def topic_pages(
    session: Session, publication: str, editions: Sequence[Edition] | None = None
) -> Iterator[TopicPage]:
    """The page of every topic of the publication, by topic name (``editions`` as for
    ``briefing_pages``)."""
    row = get_publication(session, publication)
    topics = topics_of(session, row)
    entries = _entries(current_editions(session, row) if editions is None else editions, topics)
    info = publication_info(row)
    for name, slug in topics:
        yield TopicPage(slug, render_topic_page(info, name, slug, entries[slug]))


def topic_html(session: Session, publication: str, slug: str) -> str:
    """One topic's page; a slug the publication does not know: ``NotFoundError``."""
    row = get_publication(session, publication)
    names = {topic_slug: name for name, topic_slug in topics_of(session, row)}
    if slug not in names:
        raise NotFoundError(f"{row.name} has no topic {slug!r}")
    name = names[slug]
    editions = current_editions(session, row, only=_digests_on(session, row, name_key(name)))
    entries = _entries(editions, [(name, slug)])
    return render_topic_page(publication_info(row), name, slug, entries[slug])


def opml_text(session: Session, publication: str) -> str:
    """The publication's OPML file listing every one of its feeds."""
    row = get_publication(session, publication)
    return render_opml(publication_info(row), topics_of(session, row))


def rerender_edition_pages(session: Session, publication: str, *, batch: int = 100) -> int:
    """Re-render the stored web page of every published edition of the publication from
    its public view (after an upgrade changed the templates); how many."""
    row = get_publication(session, publication)
    ids = list(
        session.scalars(
            select(Digest.id)
            .where(Digest.publication_id == row.id, Digest.published_at.is_not(None))
            .order_by(Digest.edition_date)
        )
    )
    for start in range(0, len(ids), batch):
        digests = session.scalars(
            select(Digest)
            .where(Digest.id.in_(ids[start : start + batch]))
            .order_by(Digest.edition_date)
            .options(selectinload(Digest.items))
        ).all()
        for digest, edition in zip(digests, public_editions(session, list(digests)), strict=True):
            digest.web_html = render_edition_page(edition)
        session.flush()
    return len(ids)
