"""Signing in and out of the editors' app: the form, the throttled check, the session."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.backoffice.pages import render
from newsletter.editors.auth import (
    BrowserSession,
    check_csrf,
    client_ip,
    signed_in,
    signed_out,
    write_session,
)
from newsletter.editors.services import audit, end_sessions
from newsletter.editors.throttle import LoginFailed, sign_in
from newsletter.errors import RateLimited
from newsletter.web.deps import runtime_of
from newsletter.web.handlers import headers_of, status_of

router = APIRouter()


def _safe_next(target: str) -> str:
    """Only a path inside the editors' app: never an open redirect to another site."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/editor/") or "\\" in target:
        return "/editor/briefings"
    return target


@router.get("/")
def home() -> RedirectResponse:
    """The app starts at the review queue."""
    return RedirectResponse("/editor/briefings", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> Response:
    """The sign-in form (sets the session cookie its CSRF token is bound to)."""
    return render(
        request,
        "login.html",
        user=None,
        page_title="Sign in",
        error="",
        name="",
        next=_safe_next(next) if next else "",
    )


@router.post("/login")
def login(
    request: Request,
    session: Annotated[BrowserSession, Depends(check_csrf)],
    name: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=2048)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Check the password (throttled), start a fresh session and go on."""
    ip = client_ip(request)
    database = runtime_of(request).database
    error, status, headers = "", 200, None
    with database.session() as db:
        try:
            editor = sign_in(db, name, password, ip=ip)
        except RateLimited as exc:
            error, status, headers = str(exc), status_of(exc), headers_of(exc)
        except LoginFailed as exc:
            error, status = str(exc), 401
        else:
            audit(db, editor.name, "login", ip=ip)
            fresh = signed_in(editor)
    if error:
        with database.session() as db:
            actor = name.strip()[:120] or "(blank)"
            if status == 429:  # throttled: how long this address must wait, as it was told
                retry_after = int((headers or {}).get("Retry-After", "0"))
                audit(db, actor, "login.throttled", ip=ip, status=status, retry_after=retry_after)
            else:
                audit(db, actor, "login.failed", ip=ip, status=status)
        response = render(
            request,
            "login.html",
            user=None,
            page_title="Sign in",
            status=status,
            session=session,
            error=error,
            name=name,
            next=_safe_next(next) if next else "",
        )
        response.headers.update(headers or {})
        return response
    moved = RedirectResponse(_safe_next(next), status_code=303)
    write_session(moved, request, fresh)
    return moved


@router.post("/logout")
def logout(request: Request, session: Annotated[BrowserSession, Depends(check_csrf)]) -> Response:
    """End the session: the account's session version moves on, so the old cookie (and
    any other browser signed in as this editor) no longer works; a new anonymous session
    replaces it."""
    if session.editor_id is not None:
        with runtime_of(request).database.session() as db:
            editor = end_sessions(db, session.editor_id, session.version)
            if editor is not None:
                audit(db, editor.name, "logout", ip=client_ip(request))
    response = RedirectResponse("/editor/login?done=signed-out", status_code=303)
    write_session(response, request, signed_out())
    return response
