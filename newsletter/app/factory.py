"""The web app factory: ``create_app(settings)`` builds the runtime and mounts every router.

The one module that knows every feature's router (the top of the layers); the views
themselves import only ``newsletter.web`` (runtime dependency, pages, error handlers).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from newsletter.app.apply_requests import request_apply, request_plan
from newsletter.app.observe import broker_problem
from newsletter.app.observe import router as observe
from newsletter.feeds.views import FeedFastPath
from newsletter.runtime import Runtime
from newsletter.settings import Settings, load_settings
from newsletter.web import handlers, logs
from newsletter.web.middleware import BodyLimit, PublicGZip, SecurityHeaders
from newsletter.web.requests import RequestId
from newsletter.web.requests import configure as configure_logging

MAX_BODY_BYTES = 2 * 1024 * 1024  # webhooks post batches of events; forms are far smaller
# The back office's CSV import takes files up to the CSV limit (``BodyLimit``).
UPLOAD_PATHS = re.compile(r"/editor/lists/[^/]+/import")


def create_app(settings: Settings) -> FastAPI:
    """The public web app over a fresh runtime (schema migrated on creation)."""
    runtime = Runtime(settings)
    runtime.ensure_schema()
    logs.install()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        runtime.close()

    app = FastAPI(
        title="Briefing publisher",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    # The webhook view asks a worker for the events' applying through this (it cannot
    # import the task queue, which sits above it).
    app.state.request_apply = request_apply
    # Likewise the alert action (back office) asks a worker to plan the alert it started.
    app.state.request_plan = request_plan
    app.state.broker_problem = broker_problem  # /readyz
    handlers.install(app)
    app.add_middleware(
        BodyLimit, max_bytes=MAX_BODY_BYTES, limits=settings.limits, uploads=UPLOAD_PATHS
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(PublicGZip)
    # Current feeds are answered from memory before anything else below runs.
    app.add_middleware(FeedFastPath)
    app.add_middleware(RequestId)
    # Outermost: the client address every view, throttle and log line sees is the one
    # a trusted proxy forwarded (uvicorn's own middleware, given NEWSLETTER_TRUSTED_PROXIES;
    # `newsletter web` turns uvicorn's copy off so that it is applied once, here).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxy_addresses)
    _include_routers(app)
    return app


def serve() -> FastAPI:
    """The app of one of ``newsletter web --workers N``'s processes (uvicorn's factory).

    Settings come from the environment, which ``newsletter web`` completed (the public
    address it derived, the metrics folder) before starting the workers.
    """
    settings = load_settings()
    configure_logging(settings.log_format)
    return create_app(settings)


def _include_routers(app: FastAPI) -> None:
    """Every feature's router (imported here so the factory stays the one place to look)."""
    from newsletter.backoffice.api import router as editors_api
    from newsletter.backoffice.screens import router as editors_pages
    from newsletter.delivery.views import router as delivery
    from newsletter.digests.variant_pages import router as variant_pages
    from newsletter.digests.views import router as archive
    from newsletter.feeds.views import router as feeds
    from subscribers.signup_views import router as signup
    from subscribers.unsubscribe_views import router as unsubscribe

    app.include_router(observe)
    app.include_router(signup)
    app.include_router(unsubscribe)
    app.include_router(editors_pages)
    app.include_router(editors_api)
    app.include_router(feeds)
    app.include_router(delivery)
    app.include_router(variant_pages)  # topic variants' pages, before the broad archive routes
    # Last: its "/p/{publication}/{edition_date}/" pattern is the broadest.
    app.include_router(archive)
