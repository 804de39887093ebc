"""The public web archive: the home page, each publication's index and edition pages.

Only editions that have been made public (``Digest.published_at`` set) are shown; an
edition still being prepared is a 404, exactly as if it did not exist.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from newsletter import urls
from newsletter.digests.models import Digest
from newsletter.digests.services import find_digest, render_archive
from newsletter.errors import NotFoundError
from newsletter.publications.services import get_publication, list_publications
from newsletter.web.app import runtime_of
from newsletter.web.pages import render_page

router = APIRouter()

# Archive pages hold no personal data: let browsers and proxies keep them briefly.
PUBLIC_CACHE = "public, max-age=300"


def _public(html: str) -> HTMLResponse:
    response = HTMLResponse(html)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """Every publication, with its archive, feeds and sign-up form."""
    with runtime_of(request).database.session() as session:
        publications = [
            {
                "name": p.name,
                "tagline": p.tagline,
                "archive": urls.archive_index("", p.slug),
                "subscribe": urls.subscribe_page("", p.slug),
                "feeds": {
                    fmt: urls.feed("", p.slug, "briefings", fmt) for fmt in urls.FEED_FORMATS
                },
                "latest": session.scalar(
                    select(Digest.edition_date)
                    .where(Digest.publication_id == p.id, Digest.published_at.is_not(None))
                    .order_by(Digest.edition_date.desc())
                    .limit(1)
                ),
            }
            for p in list_publications(session)
        ]
    response = render_page("home.html", page_title="Publications", publications=publications)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


@router.get("/p/{publication}/", response_class=HTMLResponse)
def archive(request: Request, publication: str) -> HTMLResponse:
    """A publication's published editions, newest first."""
    with runtime_of(request).database.session() as session:
        html = render_archive(session, get_publication(session, publication), published_only=True)
    return _public(html)


@router.get("/p/{publication}/{edition_date}/", response_class=HTMLResponse)
def edition(request: Request, publication: str, edition_date: str) -> HTMLResponse:
    """One published edition's web page, exactly as rendered with its email."""
    try:
        day = date.fromisoformat(edition_date)
    except ValueError:
        raise NotFoundError(f"{edition_date!r} is not an edition date") from None
    with runtime_of(request).database.session() as session:
        row = get_publication(session, publication)
        digest = find_digest(session, row.id, day)
        if digest is None or digest.published_at is None or digest.web_html is None:
            raise NotFoundError(f"{row.name} has no published edition for {day.isoformat()}")
        html = digest.web_html
    return _public(html)
