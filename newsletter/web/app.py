"""The web app factory: ``create_app(settings)`` builds the runtime and mounts every router.

Errors never show a traceback: a ``UserError`` becomes a 4xx with its message, an
unexpected exception a 500 with a generic message (logged with its traceback), each
as a friendly page for browsers and JSON for API clients.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter.errors import (
    InvalidInputError,
    NotFoundError,
    ProviderError,
    TransitionError,
    UserError,
    VerificationError,
)
from newsletter.runtime import Runtime
from newsletter.settings import Settings
from newsletter.web import logs
from newsletter.web.middleware import BodyLimit, SecurityHeaders
from newsletter.web.pages import error_response

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024  # webhooks post batches of events; forms are far smaller


def status_of(error: UserError) -> int:
    """The HTTP status of a refused request."""
    from subscribers.ratelimit import RateLimited

    if isinstance(error, RateLimited):
        return 429
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, TransitionError):
        return 409
    if isinstance(error, VerificationError):
        return 403
    if isinstance(error, InvalidInputError):
        return 400
    return 400


async def _user_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserError)
    status = status_of(exc)
    headers = None
    retry_after = getattr(exc, "retry_after", None)
    if status == 429 and retry_after:
        headers = {"Retry-After": str(retry_after)}
    return error_response(request, status, str(exc), headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    messages = {
        404: "There is nothing at this address. Check the link, or start from the home page.",
        405: "This address does not accept that kind of request.",
    }
    message = messages.get(exc.status_code, str(exc.detail))
    return error_response(request, exc.status_code, message, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {
            "field": ".".join(str(part) for part in error.get("loc", ()) if part != "body"),
            "message": str(error.get("msg", "invalid")),
        }
        for error in exc.errors()
    ]
    summary = "; ".join(f"{item['field'] or 'body'}: {item['message']}" for item in fields[:5])
    return error_response(request, 422, summary, fields=fields)


async def _provider_error(request: Request, exc: Exception) -> Response:
    log.warning("email provider failed on %s: %s", request.url.path, exc)
    return error_response(
        request, 503, "We could not send email just now. Please try again in a few minutes."
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        request, 500, "Something went wrong on our side. Please try again in a few minutes."
    )


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
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ProviderError, _provider_error)
    app.add_exception_handler(Exception, _server_error)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(SecurityHeaders)
    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    """Every feature's router (imported here so the factory stays the one place to look)."""
    from newsletter.delivery.views import router as delivery
    from newsletter.digests.views import router as archive
    from newsletter.editors.api import router as editors_api
    from newsletter.editors.views import router as editors_pages
    from newsletter.feeds.views import router as feeds
    from subscribers.views import router as subscribers

    app.include_router(subscribers)
    app.include_router(editors_pages)
    app.include_router(editors_api)
    app.include_router(feeds)
    app.include_router(delivery)
    # Last: its "/p/{publication}/{edition_date}/" pattern is the broadest.
    app.include_router(archive)


def runtime_of(request: Request) -> Runtime:
    """The runtime the app was built with."""
    runtime: Runtime = request.app.state.runtime
    return runtime
