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
``FeedFastPath``, an ASGI middleware the app factory installs, answers feed GETs and
HEADs before routing: the version query runs on the event loop's own connection and
a current feed is sent from memory, so the request costs the HTTP server, one
primary-key lookup and a dictionary hit. Only a rebuild goes to a worker thread.
Anything else (an unknown publication or topic, a bad file name, OPTIONS) falls
through to the routes below, which answer it as before.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.db import Database, utcnow
from newsletter.errors import NotFoundError
from newsletter.feeds.cache import BuiltFeed, FeedCache, FeedKey
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
from newsletter.web.middleware import SECURITY_HEADERS

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


def feed_answer(
    built: BuiltFeed, fmt: str, request_headers: Mapping[str, str], hub_url: str | None
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body answering a request for the built feed in ``fmt``."""
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
        return 304, headers, b""
    headers["Content-Type"] = MEDIA_TYPES[fmt]
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        return 200, headers, built.gzip_body
    return 200, headers, built.body


def feed_response(
    built: BuiltFeed, fmt: str, request_headers: Mapping[str, str], hub_url: str | None
) -> Response:
    """The built feed's response in ``fmt``: 200 with the body, or 304 without one."""
    status, headers, body = feed_answer(built, fmt, request_headers, hub_url)
    if status == 304:
        return Response(status_code=304, headers=headers)
    return Response(body, headers=headers)


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


def server_of(app: Any) -> FeedServer:
    """The app's feed server, created on first use."""
    state = app.state
    with _SERVER_LOCK:
        if not hasattr(state, "feed_server"):
            state.feed_server = FeedServer(state.runtime.database)
        server: FeedServer = state.feed_server
    return server


def feed_server(request: Request) -> FeedServer:
    """The feed server of the request's app."""
    return server_of(request.app)


# The fast path runs outside the app's middleware, so it adds their headers itself.
_SECURITY = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
_WANTED = frozenset((b"accept-encoding", b"if-none-match", b"if-modified-since"))


def _request_headers(scope: Scope) -> dict[str, str]:
    """The request headers a feed answer reads (lower-case names)."""
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in _WANTED
    }


def _encoded_answer(
    built: BuiltFeed, fmt: str, request_headers: Mapping[str, str], hub_url: str | None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``feed_answer`` with its headers encoded for ASGI, kept per built feed and variant
    (status, encoding, whether Last-Modified is shown): a repeated answer encodes nothing."""
    gzipped = accepts_gzip(request_headers.get("accept-encoding"))
    etag = built.gzip_etag if gzipped else built.etag
    now = utcnow()
    dated = shows_last_modified(built.last_modified, now)
    fresh = not not_modified(request_headers, etag=etag, last_modified=built.last_modified, now=now)
    variant = (fresh, gzipped, dated, hub_url)
    kept = built.answers.get(variant)
    if kept is None:
        status, headers, body = feed_answer(built, fmt, request_headers, hub_url)
        raw = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.items()
        ]
        raw.extend(_SECURITY)
        if status != 304:
            raw.append((b"content-length", str(len(body)).encode("latin-1")))
        kept = built.answers[variant] = (status, raw, body)
    return kept


_FEED_PATH = re.compile(
    r"/p/(?P<publication>[^/]+)/feeds/(?P<kind>briefings|editions|topics/[^/]+)/(?P<file>[^/]+)"
)


class FeedFastPath:
    """ASGI middleware: current feeds answered from memory before routing (see above).

    Installed outermost, so it adds the security headers the inner middleware would.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a feed GET/HEAD when its publication and feed exist; else pass it on."""
        if scope["type"] == "lifespan":
            await self.app(scope, self._closing(scope, receive), send)
            return
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        match = _FEED_PATH.fullmatch(scope["path"])
        fmt = _FORMAT_OF_FILE.get(match["file"]) if match else None
        if match is None or fmt is None:
            await self.app(scope, receive, send)
            return
        server = server_of(scope["app"])
        hub = scope["app"].state.runtime.settings.websub_hub_url or None
        publication, kind = match["publication"], match["kind"]
        try:
            publication_id, version = server.held_version(publication)
            built = server.cache.get(FeedKey(publication_id, kind, fmt, hub), version)
            if built is None:
                built = await to_thread.run_sync(server.get, publication, kind, fmt, hub)
        except NotFoundError:
            await self.app(scope, receive, send)  # the routes answer the 404 page
            return
        status, raw, body = _encoded_answer(built, fmt, _request_headers(scope), hub)
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    def _closing(self, scope: Scope, receive: Receive) -> Receive:
        async def receive_and_close() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and "app" in scope:
                state = scope["app"].state
                if hasattr(state, "feed_server"):
                    state.feed_server.close()
            return message

        return receive_and_close


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
