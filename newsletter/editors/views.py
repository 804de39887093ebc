"""The editors' pages under ``/editor/``: sign-in, the briefing queue and one briefing.

Every page needs a signed-in editor; every form POST checks the CSRF token first
and the role second (see ``auth``), so a refused request changes nothing. The
edition, schedule and account pages are in ``edition_views`` and ``admin_views``,
publications and lists in ``publication_views``;
their routers are included here so the app mounts one router for all pages.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.briefings import services as briefings
from newsletter.briefings.models import Briefing, BriefingState
from newsletter.briefings.workflow import Action, next_state
from newsletter.editors import admin_views, edition_views, publication_views
from newsletter.editors.auth import (
    BrowserSession,
    Principal,
    check_csrf,
    client_ip,
    form_user,
    page_user,
    signed_in,
    signed_out,
    write_session,
)
from newsletter.editors.pages import redirect, render
from newsletter.editors.queue import briefing_queue, known_topics
from newsletter.editors.services import audit
from newsletter.editors.throttle import LoginFailed, sign_in
from newsletter.errors import InvalidInputError, RateLimited, TransitionError
from newsletter.web.deps import runtime_of
from newsletter.web.handlers import headers_of, status_of

router = APIRouter(prefix="/editor", include_in_schema=False)
router.include_router(edition_views.router)
router.include_router(admin_views.router)
router.include_router(publication_views.router)

Editor = Annotated[Principal, Depends(page_user())]
Acting = Annotated[Principal, Depends(form_user())]
MAX_REASON = 2000


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
            audit(db, name.strip()[:120] or "(blank)", "login.failed", ip=ip, status=status)
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
    """End the session (a new anonymous one replaces it)."""
    response = RedirectResponse("/editor/login?done=signed-out", status_code=303)
    write_session(response, request, signed_out())
    return response


@router.get("/briefings", response_class=HTMLResponse)
def queue(
    request: Request,
    user: Editor,
    state: Annotated[str, Query(max_length=20)] = "draft",
    topic: Annotated[str, Query(max_length=120)] = "",
) -> Response:
    """The review queue, drafts first by default, filtered by state and topic."""
    chosen = BriefingState(state) if state in {s.value for s in BriefingState} else None
    with runtime_of(request).database.session() as db:
        rows = briefing_queue(db, state=chosen, topic=topic or None)
        topics = known_topics(db)
    return render(
        request,
        "queue.html",
        user=user,
        section="briefings",
        page_title="Briefings",
        rows=rows,
        states=[s.value for s in BriefingState],
        state=chosen.value if chosen else "",
        topic=topic,
        topics=topics,
    )


def allowed_actions(briefing: Briefing) -> list[str]:
    """The workflow actions the briefing's state allows now."""
    allowed = []
    for action in (Action.APPROVE, Action.REJECT, Action.WITHDRAW):
        try:
            next_state(
                briefing.state, action, has_live_revision=briefing.approved_revision is not None
            )
        except TransitionError:
            continue
        allowed.append(action.value)
    return allowed


@router.get("/briefings/{slug}", response_class=HTMLResponse)
def briefing_page(request: Request, user: Editor, slug: str) -> Response:
    """One briefing: its latest content, import warnings, actions and history."""
    with runtime_of(request).database.session() as db:
        briefing = briefings.get_briefing(db, slug)
        latest = briefings.revision(db, briefing)
        content = latest.parsed()
        context: dict[str, Any] = {
            "briefing": briefing,
            "content": content,
            "source": latest.source,
            "history": briefings.history(db, briefing),
            "actions": allowed_actions(briefing),
        }
    return render(
        request,
        "briefing.html",
        user=user,
        section="briefings",
        page_title=content.title,
        **context,
    )


def _act(request: Request, user: Principal, slug: str, action: Action, comment: str) -> Response:
    do = {
        Action.APPROVE: briefings.approve,
        Action.REJECT: briefings.reject,
        Action.WITHDRAW: briefings.withdraw,
    }[action]
    with runtime_of(request).database.session() as db:
        briefing = briefings.get_briefing(db, slug)
        do(db, briefing, user.name, comment.strip())
        slug = briefing.slug
    done = {Action.APPROVE: "approved", Action.REJECT: "rejected"}.get(action, "withdrawn")
    return redirect(f"/editor/briefings/{slug}", done)


@router.post("/briefings/{slug}/approve")
def approve(
    request: Request,
    user: Acting,
    slug: str,
    comment: Annotated[str, Form(max_length=MAX_REASON)] = "",
) -> Response:
    """Approve the latest revision."""
    return _act(request, user, slug, Action.APPROVE, comment)


@router.post("/briefings/{slug}/reject")
def reject(
    request: Request,
    user: Acting,
    slug: str,
    reason: Annotated[str, Form(min_length=1, max_length=MAX_REASON)],
) -> Response:
    """Reject the latest revision, with a reason for the newsroom."""
    if not reason.strip():
        raise InvalidInputError("reason: say why the briefing is rejected")
    return _act(request, user, slug, Action.REJECT, reason)


@router.post("/briefings/{slug}/withdraw")
def withdraw(
    request: Request,
    user: Acting,
    slug: str,
    reason: Annotated[str, Form(max_length=MAX_REASON)] = "",
) -> Response:
    """Take the briefing out of later editions."""
    return _act(request, user, slug, Action.WITHDRAW, reason)
