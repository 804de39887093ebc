"""Rendering the editors' pages: layout context, CSRF token, notices, and the session cookie.

Pages are server-rendered from ``templates/web/editor/``; the only script is the
briefing edit form's optional live preview (``briefing_edit``).
After a form POST the handler redirects (303) to a page with ``?done=<key>``, and
the page shows the fixed sentence for that key, so no request text is ever echoed
back as a message.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from newsletter.editors.auth import (
    BrowserSession,
    Principal,
    csrf_token,
    read_session,
    write_session,
)
from newsletter.editors.models import Role
from newsletter.templating import environment

# The public app's policy, plus sandboxed srcdoc frames for the email preview.
EDITOR_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https: http:; "
    "frame-src 'self' about:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

NOTICES = {
    "approved": "Approved. The briefing goes into the next edition.",
    "rejected": "Rejected. The reason is in the history.",
    "withdrawn": "Withdrawn. It will not appear in later editions.",
    "saved": "Saved as a new revision. It needs approval before editions use it.",
    "unchanged": "Nothing changed: the form says what the latest revision says.",
    "corrected": "Correction approved. Pages and feeds show the corrected text with your note.",
    "taken-down": "Taken down. Its text is removed from every page, feed and export.",
    "test-sent": "Test copy sent. Check the inbox in a minute.",
    "scheduled": "Schedule saved.",
    "once": "One-off edition added.",
    "sending": "Today's edition is queued to go out now: the scheduler starts it within a minute.",
    "list-added": "Mailing list added.",
    "opt-in-double": "The list now asks new subscribers to confirm by email (double opt-in).",
    "opt-in-single": "The list now subscribes people at once, without a confirmation email.",
    "publication-saved": "Publication saved.",
    "publication-created": "Publication added. Set its schedule, topics and look here.",
    "welcome-saved": "Welcome email saved. Readers confirming from now on get this version.",
    "cancelled": "Edition cancelled.",
    "alert-sent": "Alert sent: a worker is delivering it to the readers who opted in now.",
    "resent": "The readers whose failure was transient are queued again: they are sent within "
    "a minute.",
    "paused": "Publication paused: no editions go out until it is resumed.",
    "resumed": "Publication resumed.",
    "editor-added": "Account added.",
    "editor-disabled": "Account disabled; its sessions and tokens stopped working.",
    "editor-enabled": "Account enabled.",
    "signed-out": "You are signed out.",
    "reader-unsubscribed": "Unsubscribed from that list. The consent record names you.",
    "reader-resent": "Confirmation email sent again.",
    "reader-suppressed": "Suppressed: nothing will be sent to this address.",
    "reader-lifted": "Suppression lifted.",
    "erased": "Erased. Only a hash of the address is kept, so it is never mailed again.",
    "reader-gone": "That reader no longer exists (erased meanwhile?).",
}

NAV = (
    ("briefings", "/editor/briefings", "Briefings", Role.EDITOR),
    ("preview", "/editor/preview", "Next edition", Role.EDITOR),
    ("editions", "/editor/editions", "Editions", Role.EDITOR),
    ("schedules", "/editor/schedules", "Schedules", Role.EDITOR),
    ("subscribers", "/editor/subscribers", "Subscribers", Role.ADMIN),
    ("publications", "/editor/publications", "Publications", Role.ADMIN),
    ("lists", "/editor/lists", "Lists", Role.ADMIN),
    ("accounts", "/editor/accounts", "Accounts", Role.ADMIN),
)


def render(
    request: Request,
    template: str,
    *,
    user: Principal | None,
    section: str = "",
    status: int = 200,
    session: BrowserSession | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page from ``templates/web/editor/`` with the layout's context filled in."""
    session = session or read_session(request)
    done = request.query_params.get("done", "")
    nav = [
        {"key": key, "href": href, "label": label, "current": key == section}
        for key, href, label, role in NAV
        if user is not None and user.can(role)
    ]
    html = (
        environment()
        .get_template(f"web/editor/{template}")
        .render(
            user=user,
            nav=nav,
            csrf=csrf_token(request, session),
            notice=NOTICES.get(done, ""),
            Role=Role,
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = EDITOR_CSP
    if session.fresh:
        write_session(response, request, session)
    return response


def redirect(path: str, done: str = "") -> RedirectResponse:
    """A 303 to ``path`` after a form POST, with a notice key."""
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}done={done}" if done else path, status_code=303)
