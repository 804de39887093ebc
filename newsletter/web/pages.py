"""Rendering public pages and error answers, as HTML for people and JSON for programs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from newsletter.templating import environment

API_PREFIX = "/api/"
# Posted to by programs (SendGrid's Event Webhook), never by a browser.
MACHINE_PREFIXES = (API_PREFIX, "/webhooks/")


def render_page(
    template: str, *, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """A page from ``templates/web/``; pages carry personal tokens, so nothing is cached."""
    html = environment().get_template(f"web/{template}").render(**context)
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def wants_json(request: Request) -> bool:
    """Whether the client is a program that should get JSON rather than a page.

    Always under ``/api/``. Elsewhere, a client that asks for HTML gets HTML; one that
    asks for JSON, posts to a webhook, or sent a JSON body (``/api/subscribe``'s
    callers often send no ``Accept`` at all) gets JSON.
    """
    path = request.url.path
    if path.startswith(API_PREFIX):
        return True
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        return False
    if "application/json" in accept or path.startswith(MACHINE_PREFIXES):
        return True
    return "json" in request.headers.get("content-type", "")


TITLES = {
    400: "This request could not be used",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "This cannot be done any more",
    413: "Too much data",
    422: "Some fields need attention",
    429: "Please slow down",
    500: "Something went wrong on our side",
    503: "Please try again shortly",
}


def error_response(
    request: Request,
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    fields: list[dict[str, str]] | None = None,
) -> Response:
    """An error as a friendly page or as ``{"error": ..., "status": ...}``."""
    if wants_json(request):
        body: dict[str, Any] = {"error": message, "status": status}
        if fields:
            body["fields"] = fields
        return JSONResponse(body, status_code=status, headers=headers)
    title = TITLES.get(status, "Something is not right")
    return render_page(
        "error.html", status=status, headers=headers, page_title=title, message=message, code=status
    )
