"""Serve feeds over HTTP with conditional GET: ETag, Last-Modified, 304, Cache-Control.

Paths are those of ``newsletter.urls.feed``:
``/p/<publication>/feeds/{briefings|editions|topics/<topic>}/{rss.xml|atom.xml|feed.json}``.
An unknown publication, topic, kind or file name is a 404. With a WebSub hub
configured, responses carry ``Link: <hub>; rel="hub", <self>; rel="self"``.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import Response

from newsletter.db import Database
from newsletter.errors import NotFoundError
from newsletter.feeds.catalog import Feed, feed_for
from newsletter.feeds.conditional import CACHE_CONTROL, etag_of, http_date, not_modified
from newsletter.feeds.models import KIND_BRIEFINGS, KIND_EDITIONS, MEDIA_TYPES, topic_kind
from newsletter.feeds.services import load_source
from newsletter.urls import FEED_FORMATS
from newsletter.web.app import runtime_of

router = APIRouter()

_FORMAT_OF_FILE = {filename: fmt for fmt, filename in FEED_FORMATS.items()}


def format_of(filename: str) -> str:
    """The feed format a file name stands for (``rss.xml`` → ``rss``), or NotFoundError."""
    fmt = _FORMAT_OF_FILE.get(filename)
    if fmt is None:
        raise NotFoundError(f"no feed file {filename!r} (expected rss.xml, atom.xml or feed.json)")
    return fmt


def feed_response(
    feed: Feed, fmt: str, request_headers: Mapping[str, str], hub_url: str | None
) -> Response:
    """The feed's response in ``fmt``: 200 with the body, or 304 without one."""
    body = feed.render(fmt)
    etag = etag_of(body)
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(feed.updated),
        "Cache-Control": CACHE_CONTROL,
    }
    if hub_url:
        headers["Link"] = f'<{hub_url}>; rel="hub", <{feed.spec.url(fmt)}>; rel="self"'
    if not_modified(request_headers, etag=etag, last_modified=feed.updated):
        return Response(status_code=304, headers=headers)
    return Response(body, headers={**headers, "Content-Type": MEDIA_TYPES[fmt]})


def serve_feed(
    database: Database,
    request_headers: Mapping[str, str],
    *,
    publication: str,
    kind: str,
    filename: str,
    hub_url: str | None = None,
) -> Response:
    """Load, build and answer one feed request (the routes below only unpack the request)."""
    fmt = format_of(filename)
    with database.session() as session:
        source = load_source(
            session,
            publication,
            hub_url=hub_url,
            every_edition=kind not in (KIND_BRIEFINGS, KIND_EDITIONS),
        )
    return feed_response(feed_for(source, kind), fmt, request_headers, source.hub_url)


def _serve(request: Request, publication: str, kind: str, filename: str) -> Response:
    runtime = runtime_of(request)
    return serve_feed(
        runtime.database,
        request.headers,
        publication=publication,
        kind=kind,
        filename=filename,
        hub_url=runtime.settings.websub_hub_url,
    )


@router.get("/p/{publication}/feeds/topics/{topic}/{filename}")
def topic_feed(request: Request, publication: str, topic: str, filename: str) -> Response:
    """A topic's feed of a publication."""
    return _serve(request, publication, topic_kind(topic), filename)


@router.get("/p/{publication}/feeds/{kind}/{filename}")
def publication_feed(request: Request, publication: str, kind: str, filename: str) -> Response:
    """A publication's briefings or editions feed."""
    return _serve(request, publication, kind, filename)
