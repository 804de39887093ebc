"""Serve feeds over HTTP: conditional GET, gzip, CORS, from precomputed bytes.

Paths are those of ``newsletter.urls.feed``:
``/p/<publication>/feeds/{briefings|editions|topics/<topic>}/{rss.xml|atom.xml|feed.json}``.
GET and HEAD are answered (HEAD: the same headers, no body), OPTIONS answers a CORS
preflight. An unknown publication, topic, kind or file name is a 404. With a WebSub
hub configured, responses carry ``Link: <hub>; rel="hub", <self>; rel="self"``.

Each response has ``ETag`` (per representation), ``Last-Modified`` (when the bytes
last changed), ``Cache-Control``, ``Vary: Accept-Encoding`` and
``Access-Control-Allow-Origin: *`` (feeds are public; browser readers and
JavaScript may fetch them from any site). A client that accepts gzip gets the bytes
compressed when the feed was built; nothing is compressed per request.

The app's ``FeedServer`` (``newsletter.feeds.serving``) keeps built feeds per process
and checks them with one small query, so a 304 or a repeated 200 builds nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import Response

from newsletter.db import Database, utcnow
from newsletter.errors import NotFoundError
from newsletter.feeds.cache import BuiltFeed, FeedCache
from newsletter.feeds.conditional import (
    CACHE_CONTROL,
    accepts_gzip,
    http_date,
    not_modified,
    shows_last_modified,
)
from newsletter.feeds.models import MEDIA_TYPES, topic_kind
from newsletter.feeds.serving import FeedServer
from newsletter.urls import FEED_FORMATS
from newsletter.web.deps import runtime_of

router = APIRouter()

_FORMAT_OF_FILE = {filename: fmt for fmt, filename in FEED_FORMATS.items()}
_SERVER_LOCK = threading.Lock()

# Readable by scripts on any site: feeds are public documents.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Modified, Link",
}
PREFLIGHT_HEADERS = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "If-None-Match, If-Modified-Since",
    "Access-Control-Max-Age": "86400",
}


def format_of(filename: str) -> str:
    """The feed format a file name stands for (``rss.xml`` → ``rss``), or NotFoundError."""
    fmt = _FORMAT_OF_FILE.get(filename)
    if fmt is None:
        raise NotFoundError(f"no feed file {filename!r} (expected rss.xml, atom.xml or feed.json)")
    return fmt


def feed_response(
    built: BuiltFeed, fmt: str, request_headers: Mapping[str, str], hub_url: str | None
) -> Response:
    """The built feed's response in ``fmt``: 200 with the body, or 304 without one."""
    gzipped = accepts_gzip(request_headers.get("accept-encoding"))
    etag = built.gzip_etag if gzipped else built.etag
    now = utcnow()
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Encoding",
        **CORS_HEADERS,
    }
    if shows_last_modified(built.last_modified, now):
        headers["Last-Modified"] = http_date(built.last_modified)
    if hub_url:
        headers["Link"] = f'<{hub_url}>; rel="hub", <{built.self_url}>; rel="self"'
    if not_modified(request_headers, etag=etag, last_modified=built.last_modified, now=now):
        return Response(status_code=304, headers=headers)
    headers["Content-Type"] = MEDIA_TYPES[fmt]
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        return Response(built.gzip_body, headers=headers)
    return Response(built.body, headers=headers)


def serve_feed(
    database: Database,
    request_headers: Mapping[str, str],
    *,
    publication: str,
    kind: str,
    filename: str,
    hub_url: str | None = None,
    cache: FeedCache | None = None,
    server: FeedServer | None = None,
) -> Response:
    """Answer one feed request: from ``server`` (or a one-off server over ``cache``)."""
    fmt = format_of(filename)
    hub = hub_url or None
    if server is None:
        server = FeedServer(database, cache)
        try:
            built = server.get(publication, kind, fmt, hub)
        finally:
            server.close()
    else:
        built = server.get(publication, kind, fmt, hub)
    return feed_response(built, fmt, request_headers, hub)


def feed_server(request: Request) -> FeedServer:
    """The app's feed server, created on first use."""
    state = request.app.state
    with _SERVER_LOCK:
        if not hasattr(state, "feed_server"):
            state.feed_server = FeedServer(runtime_of(request).database)
        server: FeedServer = state.feed_server
    return server


def _serve(request: Request, publication: str, kind: str, filename: str) -> Response:
    runtime = runtime_of(request)
    return serve_feed(
        runtime.database,
        request.headers,
        publication=publication,
        kind=kind,
        filename=filename,
        hub_url=runtime.settings.websub_hub_url,
        server=feed_server(request),
    )


@router.api_route("/p/{publication}/feeds/topics/{topic}/{filename}", methods=["GET", "HEAD"])
def topic_feed(request: Request, publication: str, topic: str, filename: str) -> Response:
    """A topic's feed of a publication."""
    return _serve(request, publication, topic_kind(topic), filename)


@router.api_route("/p/{publication}/feeds/{kind}/{filename}", methods=["GET", "HEAD"])
def publication_feed(request: Request, publication: str, kind: str, filename: str) -> Response:
    """A publication's briefings or editions feed."""
    return _serve(request, publication, kind, filename)


@router.options("/p/{publication}/feeds/topics/{topic}/{filename}")
@router.options("/p/{publication}/feeds/{kind}/{filename}")
def feed_preflight() -> Response:
    """The CORS preflight of any feed URL: GET and HEAD from any origin, with validators."""
    return Response(status_code=204, headers=PREFLIGHT_HEADERS)
