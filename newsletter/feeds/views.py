"""Serve feeds over HTTP with conditional GET: ETag, Last-Modified, 304, Cache-Control.

Paths are those of ``newsletter.urls.feed``:
``/p/<publication>/feeds/{briefings|editions|topics/<topic>}/{rss.xml|atom.xml|feed.json}``.
GET and HEAD are answered (HEAD: the same headers, no body). An unknown publication,
topic, kind or file name is a 404. With a WebSub hub configured, responses carry
``Link: <hub>; rel="hub", <self>; rel="self"``.

Each app keeps the feeds it built in a ``FeedCache`` keyed by a cheap data version
(see ``newsletter.feeds.cache``), so a 304 or a repeated 200 costs two small queries
and no rebuild.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import Response

from newsletter.db import Database
from newsletter.errors import NotFoundError
from newsletter.feeds.cache import BuiltFeed, FeedCache, FeedKey, build, data_version
from newsletter.feeds.catalog import feed_for
from newsletter.feeds.conditional import CACHE_CONTROL, http_date, not_modified
from newsletter.feeds.models import (
    DEFAULT_LIMIT,
    KIND_BRIEFINGS,
    KIND_EDITIONS,
    MEDIA_TYPES,
    topic_kind,
)
from newsletter.feeds.services import source_for
from newsletter.publications.services import get_publication
from newsletter.urls import FEED_FORMATS
from newsletter.web.deps import runtime_of

router = APIRouter()

_FORMAT_OF_FILE = {filename: fmt for fmt, filename in FEED_FORMATS.items()}
_CACHE_LOCK = threading.Lock()


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
    headers = {
        "ETag": built.etag,
        "Last-Modified": http_date(built.last_modified),
        "Cache-Control": CACHE_CONTROL,
    }
    if hub_url:
        headers["Link"] = f'<{hub_url}>; rel="hub", <{built.self_url}>; rel="self"'
    if not_modified(request_headers, etag=built.etag, last_modified=built.last_modified):
        return Response(status_code=304, headers=headers)
    return Response(built.body, headers={**headers, "Content-Type": MEDIA_TYPES[fmt]})


def serve_feed(
    database: Database,
    request_headers: Mapping[str, str],
    *,
    publication: str,
    kind: str,
    filename: str,
    hub_url: str | None = None,
    cache: FeedCache | None = None,
) -> Response:
    """Answer one feed request from ``cache`` when its data has not changed, else build it."""
    fmt = format_of(filename)
    hub = hub_url or None
    with database.session() as session:
        row = get_publication(session, publication)
        # Read before building: see the module docstring of newsletter.feeds.cache.
        key = FeedKey(data_version(session, row), kind, fmt, DEFAULT_LIMIT, hub)
        built = cache.get(key) if cache is not None else None
        if built is None:
            every_edition = kind not in (KIND_BRIEFINGS, KIND_EDITIONS)
            source = source_for(session, row, hub_url=hub, every_edition=every_edition)
            built = build(feed_for(source, kind), fmt)
            if cache is not None:
                cache.put(key, built)
    return feed_response(built, fmt, request_headers, hub)


def feed_cache(request: Request) -> FeedCache:
    """The app's feed cache, created on first use."""
    state = request.app.state
    with _CACHE_LOCK:
        if not hasattr(state, "feed_cache"):
            state.feed_cache = FeedCache()
        cache: FeedCache = state.feed_cache
    return cache


def _serve(request: Request, publication: str, kind: str, filename: str) -> Response:
    runtime = runtime_of(request)
    return serve_feed(
        runtime.database,
        request.headers,
        publication=publication,
        kind=kind,
        filename=filename,
        hub_url=runtime.settings.websub_hub_url,
        cache=feed_cache(request),
    )


@router.api_route("/p/{publication}/feeds/topics/{topic}/{filename}", methods=["GET", "HEAD"])
def topic_feed(request: Request, publication: str, topic: str, filename: str) -> Response:
    """A topic's feed of a publication."""
    return _serve(request, publication, topic_kind(topic), filename)


@router.api_route("/p/{publication}/feeds/{kind}/{filename}", methods=["GET", "HEAD"])
def publication_feed(request: Request, publication: str, kind: str, filename: str) -> Response:
    """A publication's briefings or editions feed."""
    return _serve(request, publication, kind, filename)
