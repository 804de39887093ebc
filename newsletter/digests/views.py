"""The public web archive: the home page, each publication's index, edition, briefing
and topic pages, its OPML file, and the short feed addresses readers guess.

A weekly roundup has its own page, ``/p/<slug>/weekly/<date>/``, beside the daily
edition of the same date; an alert has its own, ``/p/<slug>/alerts/<key>/`` (its key is
its briefing's id).

Only editions that have been made public (``Digest.published_at`` set) are shown; an
edition still being prepared is a 404, exactly as if it did not exist. GET and HEAD
are answered (HEAD: the same headers, no body).

The page builders (here and in ``newsletter.digests.pages``) take a session and
return the page, so ``newsletter feeds export`` writes byte for byte the pages these
routes serve, at the same paths.

Short feed addresses: ``/p/<slug>/rss``, ``/feed`` (RSS), ``/atom`` and ``/feed.json``
(with or without a trailing slash) answer ``301`` to the publication's briefings feed
in that format. ``/feed`` at the root answers ``307`` to the briefings RSS feed when
there is exactly one publication, else to ``/`` (which lists every publication's
feeds): temporary, because adding a publication changes the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import i18n, urls
from newsletter.content.edition import Cadence
from newsletter.digests.models import Digest
from newsletter.digests.pages import briefing_html, opml_text, topic_html, topics_html
from newsletter.digests.services import find_digest, render_archive
from newsletter.errors import NotFoundError
from newsletter.publications.services import get_publication, list_publications
from newsletter.render.opml import MEDIA_TYPE as OPML_MEDIA_TYPE
from newsletter.render.web import FEED_TYPES
from newsletter.templating import environment
from newsletter.web.deps import runtime_of

router = APIRouter()

# Archive pages hold no personal data: let browsers and proxies keep them briefly.
PUBLIC_CACHE = "public, max-age=300"
_METHODS = ["GET", "HEAD"]

# Feed addresses readers and tools guess, and the briefings feed format each means.
FEED_ALIASES = {"rss": "rss", "feed": "rss", "atom": "atom", "feed.json": "json"}


def _public(html: str) -> HTMLResponse:
    response = HTMLResponse(html)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


def _redirect(location: str, status: int) -> RedirectResponse:
    response = RedirectResponse(location, status_code=status)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


def _feeds(slug: str, kind: str) -> list[tuple[str, str, str]]:
    """(label, media type, path) of one feed of a publication in every format."""
    return [(label, media, urls.feed("", slug, kind, fmt)) for label, media, fmt in FEED_TYPES]


def home_html(session: Session, *, language: str = i18n.DEFAULT_LANGUAGE) -> str:
    """The home page: every publication with its archive, feeds and sign-up form (the
    site's page, not one publication's: in ``language``, English by default)."""
    publications = [
        {
            "name": p.name,
            "tagline": p.tagline,
            "archive": urls.archive_index("", p.slug),
            "subscribe": urls.subscribe_page("", p.slug),
            "briefings": _feeds(p.slug, "briefings"),
            "editions": _feeds(p.slug, "editions"),
            "topics": urls.topics_index("", p.slug),
            "opml": urls.opml("", p.slug),
            "latest": session.scalar(
                select(Digest.edition_date)
                .where(
                    Digest.publication_id == p.id,
                    Digest.published_at.is_not(None),
                    Digest.cadence == Cadence.DAILY,
                )
                .order_by(Digest.edition_date.desc())
                .limit(1)
            ),
        }
        for p in list_publications(session)
    ]
    return home_page(publications, language=language)


def home_page(publications: list[dict[str, Any]], *, language: str = i18n.DEFAULT_LANGUAGE) -> str:
    """The home page of ``publications`` (as :func:`home_html` builds them) in ``language``."""
    template = environment(language=language).get_template("web/home.html")
    return template.render(
        lang=i18n.DEFAULT_LANGUAGE if language == i18n.PSEUDO else language,
        page_title=i18n.gettext_for(language, "Publications"),
        publications=publications,
    )


def archive_html(session: Session, publication: str) -> str:
    """A publication's archive index of published editions; unknown slug: NotFoundError."""
    return render_archive(session, get_publication(session, publication), published_only=True)


def edition_html(
    session: Session,
    publication: str,
    day: date,
    cadence: Cadence = Cadence.DAILY,
    slot: str = "",
) -> str:
    """One published edition's (weekly roundup's, named slot's edition's) stored web page;
    anything unpublished: NotFoundError."""
    row = get_publication(session, publication)
    digest = find_digest(session, row.id, day, cadence, slot)
    if digest is None or digest.published_at is None or digest.web_html is None:
        kind = "weekly roundup" if cadence is Cadence.WEEKLY else "edition"
        of = f" ({slot[:40]})" if slot else ""
        raise NotFoundError(f"{row.name} has no published {kind} for {day.isoformat()}{of}")
    return digest.web_html


def alert_html(session: Session, publication: str, key: str) -> str:
    """One published alert's stored web page (``key``: its slot); otherwise NotFoundError."""
    row = get_publication(session, publication)
    web_html = session.scalar(
        select(Digest.web_html).where(
            Digest.publication_id == row.id,
            Digest.cadence == Cadence.ALERT,
            Digest.slot == key,
            Digest.published_at.is_not(None),
        )
    )
    if web_html is None:
        raise NotFoundError(f"{row.name} has no published alert {key!r}")
    return web_html


def published_alert_pages(session: Session, publication: str) -> Iterator[tuple[str, str]]:
    """(key, stored web page) of every published alert of a publication."""
    row = get_publication(session, publication)
    rows = session.execute(
        select(Digest.slot, Digest.web_html).where(
            Digest.publication_id == row.id,
            Digest.cadence == Cadence.ALERT,
            Digest.published_at.is_not(None),
            Digest.web_html.is_not(None),
        )
    )
    for key, html in rows:
        yield key, cast(str, html)  # never None: filtered in the query


def published_pages(
    session: Session, publication: str, cadence: Cadence = Cadence.DAILY
) -> Iterator[tuple[date, str, str]]:
    """(edition date, slot, stored web page) of every published edition of a cadence,
    newest first (slot "": the main schedule's)."""
    row = get_publication(session, publication)
    rows = session.execute(
        select(Digest.edition_date, Digest.slot, Digest.web_html)
        .where(
            Digest.publication_id == row.id,
            Digest.cadence == cadence,
            Digest.published_at.is_not(None),
            Digest.web_html.is_not(None),
        )
        .order_by(Digest.edition_date.desc(), Digest.cutoff_at.desc())
    )
    for day, slot, html in rows:
        yield day, slot, cast(str, html)  # never None: filtered in the query


@router.api_route("/", methods=_METHODS, response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """Every publication, with its archive, feeds and sign-up form."""
    with runtime_of(request).database.session() as session:
        html = home_html(session)
    return _public(html)


@router.api_route("/feed", methods=_METHODS)
def site_feed(request: Request) -> RedirectResponse:
    """The one publication's briefings feed, or the home page listing every feed."""
    with runtime_of(request).database.session() as session:
        slugs = [p.slug for p in list_publications(session)]
    if len(slugs) == 1:
        return _redirect(urls.feed("", slugs[0], "briefings", "rss"), 307)
    return _redirect("/", 307)


def _feed_alias(request: Request, publication: str, alias: str) -> RedirectResponse:
    with runtime_of(request).database.session() as session:
        slug = get_publication(session, publication).slug
    return _redirect(urls.feed("", slug, "briefings", FEED_ALIASES[alias]), 301)


def _alias_route(alias: str) -> None:
    def feed_alias(request: Request, publication: str) -> RedirectResponse:
        """A guessed feed address of a publication: 301 to its briefings feed."""
        return _feed_alias(request, publication, alias)

    router.add_api_route(f"/p/{{publication}}/{alias}", feed_alias, methods=_METHODS)


for _alias in FEED_ALIASES:
    _alias_route(_alias)


@router.api_route("/p/{publication}/feeds.opml", methods=_METHODS)
def opml(request: Request, publication: str) -> Response:
    """Every feed of a publication as an OPML 2.0 file, for feed readers to import."""
    with runtime_of(request).database.session() as session:
        text = opml_text(session, publication)
    return Response(text, media_type=OPML_MEDIA_TYPE, headers={"Cache-Control": PUBLIC_CACHE})


@router.api_route("/p/{publication}/topics/", methods=_METHODS, response_class=HTMLResponse)
def topics(request: Request, publication: str) -> HTMLResponse:
    """A publication's topics, each with its page and feeds."""
    with runtime_of(request).database.session() as session:
        html = topics_html(session, publication)
    return _public(html)


@router.api_route("/p/{publication}/topics/{topic}/", methods=_METHODS, response_class=HTMLResponse)
def topic(request: Request, publication: str, topic: str) -> HTMLResponse:
    """One topic's briefings in a publication, newest first, with its feeds."""
    with runtime_of(request).database.session() as session:
        html = topic_html(session, publication, topic)
    return _public(html)


@router.api_route(
    "/p/{publication}/briefings/{slug}/", methods=_METHODS, response_class=HTMLResponse
)
def briefing(request: Request, publication: str, slug: str) -> HTMLResponse:
    """A briefing's own page, as the publication's edition that carried it shows it now."""
    with runtime_of(request).database.session() as session:
        html = briefing_html(session, publication, slug)
    return _public(html)


@router.api_route("/p/{publication}/", methods=_METHODS, response_class=HTMLResponse)
def archive(request: Request, publication: str) -> HTMLResponse:
    """A publication's published editions, newest first."""
    with runtime_of(request).database.session() as session:
        html = archive_html(session, publication)
    return _public(html)


def _day(edition_date: str) -> date:
    try:
        return date.fromisoformat(edition_date)
    except ValueError:
        raise NotFoundError(f"{edition_date!r} is not an edition date") from None


@router.api_route("/p/{publication}/{edition_date}/", methods=_METHODS, response_class=HTMLResponse)
def edition(request: Request, publication: str, edition_date: str) -> Response:
    """One published edition's web page, exactly as rendered with its email."""
    if edition_date in FEED_ALIASES:  # "/p/x/rss/": a guessed feed address, slashed
        return _feed_alias(request, publication, edition_date)
    day = _day(edition_date)
    with runtime_of(request).database.session() as session:
        html = edition_html(session, publication, day)
    return _public(html)


@router.api_route(
    "/p/{publication}/weekly/{edition_date}/", methods=_METHODS, response_class=HTMLResponse
)
def weekly(request: Request, publication: str, edition_date: str) -> Response:
    """One published weekly roundup's web page, exactly as rendered with its email."""
    day = _day(edition_date)
    with runtime_of(request).database.session() as session:
        html = edition_html(session, publication, day, Cadence.WEEKLY)
    return _public(html)


@router.api_route("/p/{publication}/alerts/{key}/", methods=_METHODS, response_class=HTMLResponse)
def alert(request: Request, publication: str, key: str) -> Response:
    """One published alert's web page: its briefing in full, as rendered with its email."""
    with runtime_of(request).database.session() as session:
        html = alert_html(session, publication, key)
    return _public(html)


@router.api_route(
    "/p/{publication}/{edition_date}/{slot}/", methods=_METHODS, response_class=HTMLResponse
)
def slot_edition(request: Request, publication: str, edition_date: str, slot: str) -> Response:
    """One published edition of a named slot ("morning", "evening") of a date."""
    day = _day(edition_date)
    with runtime_of(request).database.session() as session:
        html = edition_html(session, publication, day, slot=slot)
    return _public(html)
