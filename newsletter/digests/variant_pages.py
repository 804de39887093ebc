"""The web page behind a topic variant's "view in browser" link.

A reader who chose topics receives a variant of the edition: only the briefings on
their topics (or those first), in the variant's order. Its "view in browser" link,
``/p/<slug>/<date>/for/<key>/`` (``/p/<slug>/weekly/<date>/for/<key>/`` for a
weekly roundup), must show exactly the briefings they received, in that order.

The page is built on each request from the edition's *current* public view
(``newsletter.digests.public``), not stored like the full edition's page: a
correction, withdrawal or takedown made after the send reaches every variant's
page at once, and a taken-down briefing's text is never on any of them. Only keys
planning actually rendered (rows of ``digest_variants``) have a page; any other key
is a 404, so the address space cannot be walked to build arbitrary selections.
The page's canonical address is the full edition's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from newsletter import urls
from newsletter.content.edition import Cadence, Edition
from newsletter.digests.models import Digest, DigestVariant
from newsletter.digests.public import public_edition, public_editions
from newsletter.digests.variants import positions_of
from newsletter.errors import NotFoundError
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.render.web import edition_page_context, page_language
from newsletter.templating import environment
from newsletter.web.deps import runtime_of

router = APIRouter()

# Like the full edition's page: no personal data (the key names positions, not a reader).
PUBLIC_CACHE = "public, max-age=300"
_METHODS = ["GET", "HEAD"]
TEMPLATE = "web/archive/variant.html"


def variant_edition_page(edition: Edition, variant: DigestVariant) -> Edition:
    """The public edition cut to the variant's briefings, in the variant's order, numbered 1..n.

    A position the edition no longer has (never the case for a frozen snapshot) is left
    out rather than shown as something the reader did not receive.
    """
    by_position = {item.position: item for item in edition.items}
    chosen = tuple(
        replace(by_position[position], position=number)
        for number, position in enumerate(_positions(variant), start=1)
        if position in by_position
    )
    return replace(edition, items=chosen)


def _positions(variant: DigestVariant) -> tuple[int, ...]:
    """The variant's positions: its stored list (the key says the same)."""
    return tuple(int(position) for position in variant.positions)


def render_variant_page(
    full: Edition, variant: DigestVariant, *, language: str | None = None
) -> str:
    """The variant's page: its briefings of ``full`` (a public view) and a link to all of them,
    in ``language`` (default the publication's)."""
    edition = variant_edition_page(full, variant)
    lang = page_language(edition.publication, language)
    full_url = edition.page_url()
    context = {
        **edition_page_context(edition, lang),
        # The full edition is the canonical page; this one is a selection of it.
        "edition_url": full_url,
        "full_url": full_url,
        "full_count": len(full.items),
        "selection_topics": list(variant.topics),
        "weekly": edition.cadence is Cadence.WEEKLY,
    }
    return environment(language=lang).get_template(TEMPLATE).render(context)


def _digest(
    session: Session, publication: Publication, day: date, cadence: Cadence, slot: str
) -> Digest:
    digest = session.scalar(
        select(Digest)
        .where(
            Digest.publication_id == publication.id,
            Digest.edition_date == day,
            Digest.cadence == cadence,
            Digest.slot == slot,
        )
        .options(selectinload(Digest.items))
    )
    if digest is None or digest.published_at is None:
        kind = "weekly roundup" if cadence is Cadence.WEEKLY else "edition"
        of = f" ({slot})" if slot else ""
        raise NotFoundError(f"{publication.name} has no published {kind} for {day.isoformat()}{of}")
    return digest


def variant_html(
    session: Session,
    publication: str,
    day: date,
    key: str,
    *,
    cadence: Cadence = Cadence.DAILY,
    slot: str = "",
) -> str:
    """The page of one variant of a published edition; anything else: ``NotFoundError``."""
    row = get_publication(session, publication)
    try:
        positions_of(key)
    except ValueError:
        raise NotFoundError(f"{key[:40]!r} is not a selection of this edition") from None
    digest = _digest(session, row, day, cadence, slot)
    variant = session.scalar(
        select(DigestVariant).where(DigestVariant.digest_id == digest.id, DigestVariant.key == key)
    )
    if variant is None:
        raise NotFoundError(f"{key[:40]!r} is not a selection of this edition")
    edition = replace(public_edition(session, digest), cadence=digest.cadence, slot=digest.slot)
    return render_variant_page(edition, variant, language=variant.language or None)


def variant_pages(session: Session, publication: str) -> Iterator[tuple[str, str]]:
    """(URL path, page) of every variant of the publication's published editions.

    For ``newsletter feeds export``: a static archive then answers variant readers'
    "view in browser" links too.
    """
    row = get_publication(session, publication)
    digests: Sequence[Digest] = session.scalars(
        select(Digest)
        .where(Digest.publication_id == row.id, Digest.published_at.is_not(None))
        .order_by(Digest.edition_date.desc(), Digest.cadence)
        .options(selectinload(Digest.items))
    ).all()
    variants: dict[int, list[DigestVariant]] = {}
    for variant in session.scalars(
        select(DigestVariant)
        .where(DigestVariant.digest_id.in_([d.id for d in digests]))
        .order_by(DigestVariant.key)
    ):
        variants.setdefault(variant.digest_id, []).append(variant)
    with_variants = [d for d in digests if d.id in variants]
    for digest, edition in zip(with_variants, public_editions(session, with_variants), strict=True):
        weekly = digest.cadence is Cadence.WEEKLY
        edition_url = urls.edition_page(
            "", row.slug, digest.edition_date, weekly=weekly, slot=digest.slot
        )
        shown = replace(edition, cadence=digest.cadence, slot=digest.slot)
        for variant in variants[digest.id]:
            path = urls.variant_page(edition_url, variant.key)
            yield path, render_variant_page(shown, variant, language=variant.language or None)


def _public(html: str) -> HTMLResponse:
    response = HTMLResponse(html)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise NotFoundError(f"{text[:40]!r} is not an edition date") from None


@router.api_route(
    "/p/{publication}/{edition_date}/for/{key}/", methods=_METHODS, response_class=HTMLResponse
)
def daily_variant(request: Request, publication: str, edition_date: str, key: str) -> HTMLResponse:
    """The briefings of a daily edition a reader's topics selected, as they stand now."""
    day = _day(edition_date)
    with runtime_of(request).database.session() as session:
        html = variant_html(session, publication, day, key)
    return _public(html)


@router.api_route(
    "/p/{publication}/weekly/{edition_date}/for/{key}/",
    methods=_METHODS,
    response_class=HTMLResponse,
)
def weekly_variant(request: Request, publication: str, edition_date: str, key: str) -> HTMLResponse:
    """The briefings of a weekly roundup a reader's topics selected, as they stand now."""
    day = _day(edition_date)
    with runtime_of(request).database.session() as session:
        html = variant_html(session, publication, day, key, cadence=Cadence.WEEKLY)
    return _public(html)


@router.api_route(
    "/p/{publication}/{edition_date}/{slot}/for/{key}/",
    methods=_METHODS,
    response_class=HTMLResponse,
)
def slot_variant(
    request: Request, publication: str, edition_date: str, slot: str, key: str
) -> HTMLResponse:
    """The briefings of a named slot's edition a reader's topics selected, as they stand now."""
    day = _day(edition_date)
    with runtime_of(request).database.session() as session:
        html = variant_html(session, publication, day, key, slot=slot)
    return _public(html)
