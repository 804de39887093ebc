"""Rendering public pages and error answers, as HTML for people and JSON for programs.

A page is written in the ``language`` its caller names (a publication's pages: the
publication's language); an error page that belongs to no publication is written in the
shipped language the browser prefers (``Accept-Language``), English by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from babel import Locale
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from newsletter import i18n
from newsletter.templating import environment

API_PREFIX = "/api/"
# Posted to by programs (SendGrid's Event Webhook), never by a browser.
MACHINE_PREFIXES = (API_PREFIX, "/webhooks/")


def _(message: str) -> str:
    """Marks ``message`` for the catalogs; it is translated where it is shown."""
    return message


def render_page(
    template: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    language: str = i18n.DEFAULT_LANGUAGE,
    **context: Any,
) -> HTMLResponse:
    """A page from ``templates/web/`` in ``language``; pages carry personal tokens, so
    nothing is cached."""
    lang = i18n.DEFAULT_LANGUAGE if language == i18n.PSEUDO else language
    page = environment(language=language).get_template(f"web/{template}")
    html = page.render(lang=lang, **context)
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


def request_language(request: Request) -> str:
    """The shipped language the browser prefers most (``Accept-Language``), else English."""
    wanted = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _sep, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag and tag != "*" and weight > 0:
            wanted.append((weight, tag.replace("_", "-")))
    preferred = [tag for _weight, tag in sorted(wanted, key=lambda pair: -pair[0])]
    found = Locale.negotiate(preferred, list(i18n.SHIPPED), sep="-")
    return str(found).replace("_", "-") if found else i18n.DEFAULT_LANGUAGE


TITLES = {
    400: _("This request could not be used"),
    403: _("Not allowed"),
    404: _("Page not found"),
    405: _("Not allowed here"),
    409: _("This cannot be done any more"),
    410: _("This link has expired"),
    413: _("Too much data"),
    422: _("Some fields need attention"),
    429: _("Please slow down"),
    500: _("Something went wrong on our side"),
    503: _("Please try again shortly"),
}
OTHER_TITLE = _("Something is not right")


def error_response(
    request: Request,
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    fields: list[dict[str, str]] | None = None,
    translate: bool = False,
) -> Response:
    """An error as a friendly page or as ``{"error": ..., "status": ...}``.

    The page is in the browser's language (:func:`request_language`); ``translate``
    says ``message`` is one of the marked messages, translated on the page too (JSON
    keeps the English)."""
    if wants_json(request):
        body: dict[str, Any] = {"error": message, "status": status}
        if fields:
            body["fields"] = fields
        return JSONResponse(body, status_code=status, headers=headers)
    language = request_language(request)
    title = i18n.gettext_for(language, TITLES.get(status, OTHER_TITLE))
    shown = i18n.gettext_for(language, message) if translate else message
    return render_page(
        "error.html",
        status=status,
        headers=headers,
        language=language,
        page_title=title,
        message=shown,
        code=status,
    )
