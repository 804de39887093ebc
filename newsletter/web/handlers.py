"""How a refused or failed request is answered: status, headers, page or JSON.

Errors never show a traceback: a ``UserError`` becomes a 4xx with its message, an
unexpected exception a 500 with a generic message (logged with its traceback), each
as a friendly page for browsers and JSON for API clients. ``install`` adds the
handlers to an app; ``status_of`` and ``headers_of`` are the one mapping of errors to
HTTP, also used by a view that answers an error with its own page (sign-in).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from newsletter.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ProviderError,
    RateLimited,
    TransitionError,
    UserError,
    VerificationError,
)
from newsletter.web.pages import _, error_response
from newsletter.web.requests import HEADER as REQUEST_ID
from newsletter.web.requests import current as current_request_id

log = logging.getLogger(__name__)


def status_of(error: UserError) -> int:
    """The HTTP status of a refused request."""
    if isinstance(error, RateLimited):
        return 429
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, TransitionError | ConflictError):
        return 409
    if isinstance(error, VerificationError):
        return 403
    if isinstance(error, InvalidInputError):
        return 400
    return 400


def headers_of(error: UserError) -> dict[str, str] | None:
    """The headers a refusal carries: ``Retry-After`` (seconds) when rate-limited."""
    if isinstance(error, RateLimited):
        return {"Retry-After": str(error.retry_after)}
    return None


async def _user_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserError)
    return error_response(request, status_of(exc), str(exc), headers=headers_of(exc))


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at this request's path.

    Starlette's own 405 names only the first route that matched the path, so a path
    served by a GET route and a POST route said ``Allow: GET``; asking every route
    with each method gives the whole list.
    """
    routes = request.app.router.routes
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    messages = {
        404: _("There is nothing at this address. Check the link, or start from the home page."),
        405: _("This address does not accept that kind of request."),
    }
    message = messages.get(exc.status_code, str(exc.detail))
    known = exc.status_code in messages
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
    return error_response(
        request, exc.status_code, message, headers=headers or None, translate=known
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {
            "field": ".".join(str(part) for part in error.get("loc", ()) if part != "body"),
            "message": str(error.get("msg", "invalid")),
        }
        for error in exc.errors()
    ]
    summary = "; ".join(f"{item['field'] or 'body'}: {item['message']}" for item in fields)
    return error_response(request, 422, summary, fields=fields)


async def _provider_error(request: Request, exc: Exception) -> Response:
    log.warning("email provider failed on %s: %s", request.url.path, exc)
    message = _("We could not send email just now. Please try again in a few minutes.")
    return error_response(request, 503, message, translate=True)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # Starlette answers this outside every middleware, RequestId's included: the id it
    # left set for this request goes on the page's headers here, so that the reader's
    # 500 can be matched with the logged traceback.
    request_id = current_request_id.get()
    message = _("Something went wrong on our side. Please try again in a few minutes.")
    return error_response(
        request,
        500,
        message,
        headers={REQUEST_ID: request_id} if request_id else None,
        translate=True,
    )


def install(app: FastAPI) -> None:
    """Answer every error through the handlers above."""
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ProviderError, _provider_error)
    app.add_exception_handler(Exception, _server_error)
