"""Rendering public pages and error answers, as HTML for people and JSON for programs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from newsletter.templating import environment

API_PREFIX = "/api/"


def render_page(
    template: str, *, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """A page from ``templates/web/``; pages carry personal tokens, so nothing is cached."""
    html = environment().get_template(f"web/{template}").render(**context)
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def wants_json(request: Request) -> bool:
    """Whether the client is a program: an ``/api/`` path, or JSON accepted but not HTML."""
    if request.url.path.startswith(API_PREFIX):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


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
