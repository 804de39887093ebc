"""The public web archive: the home page, each publication's index and edition pages.

Only editions that have been made public (``Digest.published_at`` set) are shown; an
edition still being prepared is a 404, exactly as if it did not exist. GET and HEAD
are answered (HEAD: the same headers, no body).

The page builders take a session and return HTML, so ``newsletter feeds export``
writes byte for byte the pages these routes serve, at the same paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import urls
from newsletter.digests.models import Digest
from newsletter.digests.services import find_digest, render_archive
from newsletter.errors import NotFoundError
from newsletter.publications.services import get_publication, list_publications
from newsletter.templating import environment
from newsletter.web.deps import runtime_of

router = APIRouter()

# Archive pages hold no personal data: let browsers and proxies keep them briefly.
PUBLIC_CACHE = "public, max-age=300"
_METHODS = ["GET", "HEAD"]


def _public(html: str) -> HTMLResponse:
    response = HTMLResponse(html)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


def home_html(session: Session) -> str:
    """The home page: every publication with its archive, feeds and sign-up form."""
    publications = [
        {
            "name": p.name,
            "tagline": p.tagline,
            "archive": urls.archive_index("", p.slug),
            "subscribe": urls.subscribe_page("", p.slug),
            "feeds": {fmt: urls.feed("", p.slug, "briefings", fmt) for fmt in urls.FEED_FORMATS},
            "latest": session.scalar(
                select(Digest.edition_date)
                .where(Digest.publication_id == p.id, Digest.published_at.is_not(None))
                .order_by(Digest.edition_date.desc())
                .limit(1)
            ),
        }
        for p in list_publications(session)
    ]
    template = environment().get_template("web/home.html")
    return template.render(page_title="Publications", publications=publications)


def archive_html(session: Session, publication: str) -> str:
    """A publication's archive index of published editions; unknown slug: NotFoundError."""
    return render_archive(session, get_publication(session, publication), published_only=True)


def edition_html(session: Session, publication: str, day: date) -> str:
    """One published edition's stored web page; anything unpublished: NotFoundError."""
    row = get_publication(session, publication)
    digest = find_digest(session, row.id, day)
    if digest is None or digest.published_at is None or digest.web_html is None:
        raise NotFoundError(f"{row.name} has no published edition for {day.isoformat()}")
    return digest.web_html


def published_pages(session: Session, publication: str) -> Iterator[tuple[date, str]]:
    """(edition date, stored web page) of every published edition, newest first."""
    row = get_publication(session, publication)
    rows = session.execute(
        select(Digest.edition_date, Digest.web_html)
        .where(
            Digest.publication_id == row.id,
            Digest.published_at.is_not(None),
            Digest.web_html.is_not(None),
        )
        .order_by(Digest.edition_date.desc())
    )
    for day, html in rows:
        yield day, cast(str, html)  # never None: filtered in the query


@router.api_route("/", methods=_METHODS, response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """Every publication, with its archive, feeds and sign-up form."""
    with runtime_of(request).database.session() as session:
        html = home_html(session)
    return _public(html)


@router.api_route("/p/{publication}/", methods=_METHODS, response_class=HTMLResponse)
def archive(request: Request, publication: str) -> HTMLResponse:
    """A publication's published editions, newest first."""
    with runtime_of(request).database.session() as session:
        html = archive_html(session, publication)
    return _public(html)


@router.api_route("/p/{publication}/{edition_date}/", methods=_METHODS, response_class=HTMLResponse)
def edition(request: Request, publication: str, edition_date: str) -> HTMLResponse:
    """One published edition's web page, exactly as rendered with its email."""
    try:
        day = date.fromisoformat(edition_date)
    except ValueError:
        raise NotFoundError(f"{edition_date!r} is not an edition date") from None
    with runtime_of(request).database.session() as session:
        html = edition_html(session, publication, day)
    return _public(html)
