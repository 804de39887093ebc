"""Editor sessions, CSRF tokens and the FastAPI dependencies that enforce roles.

The session lives in one cookie signed with ``settings.secret_key`` (itsdangerous):
``{"n": nonce}`` before sign-in, plus the editor's id and session version after.
The nonce is replaced at sign-in (no session fixation). Every form carries a CSRF
token derived from the nonce with an HMAC, so it is bound to this browser's
session and checked on every POST. The cookie is HttpOnly and SameSite=Lax, and
Secure whenever the site is served over https (``NEWSLETTER_BASE_URL``), so
plain-http development on 127.0.0.1 still works.

Pages send a visitor without a session to the sign-in page (GET) or answer 401
(POST); the API answers 401 without a valid bearer token. A role too low for the
action is 403. Each check runs before the handler, so a refused request changes
nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature, URLSafeTimedSerializer

from newsletter.editors.models import Editor, Role
from newsletter.editors.services import editor_for_token
from newsletter.settings import Settings
from newsletter.web.deps import runtime_of

COOKIE = "newsletter_editor"
SESSION_MAX_AGE = 12 * 3600  # a working day; then sign in again
CSRF_FIELD = "csrf_token"
LOGIN_PATH = "/editor/login"


@dataclass(frozen=True)
class Principal:
    """The signed-in editor as plain values (safe to use after the session closes)."""

    id: int
    name: str
    email: str
    role: Role

    def can(self, role: Role) -> bool:
        """Whether the editor's role includes ``role``."""
        return self.role.allows(role)


@dataclass(frozen=True)
class BrowserSession:
    """What the session cookie says: a nonce, and the editor once signed in."""

    nonce: str
    editor_id: int | None = None
    version: int = 0
    fresh: bool = False  # not from a cookie: the response must set it


def principal_of(editor: Editor) -> Principal:
    """The plain view of an editor row."""
    return Principal(editor.id, editor.name, editor.email, editor.role)


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        settings.secret_key.get_secret_value(), salt="newsletter.editor-session"
    )


def secure_cookies(settings: Settings) -> bool:
    """Cookies are Secure when the site is served over https."""
    return settings.base_url.startswith("https://")


def read_session(request: Request) -> BrowserSession:
    """The session of this request, or a fresh anonymous one."""
    settings = runtime_of(request).settings
    raw = request.cookies.get(COOKIE, "")
    if raw and len(raw) < 4096:
        try:
            data = _serializer(settings).loads(raw, max_age=SESSION_MAX_AGE)
        except BadSignature:
            data = None
        if isinstance(data, dict) and isinstance(data.get("n"), str):
            editor_id = data.get("e")
            version = data.get("v")
            return BrowserSession(
                nonce=data["n"],
                editor_id=editor_id if isinstance(editor_id, int) else None,
                version=version if isinstance(version, int) else 0,
            )
    return BrowserSession(nonce=secrets.token_urlsafe(18), fresh=True)


def write_session(response: Response, request: Request, session: BrowserSession) -> None:
    """Set the session cookie on ``response``."""
    settings = runtime_of(request).settings
    data: dict[str, Any] = {"n": session.nonce}
    if session.editor_id is not None:
        data.update(e=session.editor_id, v=session.version)
    response.set_cookie(
        COOKIE,
        _serializer(settings).dumps(data),
        max_age=SESSION_MAX_AGE,
        path="/",
        secure=secure_cookies(settings),
        httponly=True,
        samesite="lax",
    )


def signed_in(editor: Editor) -> BrowserSession:
    """A new session (new nonce) for an editor who just signed in."""
    return BrowserSession(
        nonce=secrets.token_urlsafe(18), editor_id=editor.id, version=editor.session_version
    )


def signed_out() -> BrowserSession:
    """A new anonymous session, replacing a signed-in one."""
    return BrowserSession(nonce=secrets.token_urlsafe(18), fresh=True)


def csrf_token(request: Request, session: BrowserSession) -> str:
    """The CSRF token of this session for forms."""
    key = runtime_of(request).settings.secret_key.get_secret_value().encode()
    return hmac.new(key, b"csrf:" + session.nonce.encode(), hashlib.sha256).hexdigest()


async def check_csrf(request: Request) -> BrowserSession:
    """Dependency of every form POST: the token must match this session's, else 403."""
    session = read_session(request)
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if (
        session.fresh
        or not isinstance(sent, str)
        or not hmac.compare_digest(sent, csrf_token(request, session))
    ):
        raise HTTPException(
            403,
            "This form has expired or did not come from this site. "
            "Go back, reload the page and try again.",
        )
    return session


def _load_principal(request: Request, session: BrowserSession) -> Principal | None:
    if session.editor_id is None:
        return None
    with runtime_of(request).database.session() as db:
        editor = db.get(Editor, session.editor_id)
        if editor is None or editor.disabled or editor.session_version != session.version:
            return None
        return principal_of(editor)


def _refuse_role(principal: Principal, role: Role) -> None:
    if not principal.can(role):
        raise HTTPException(
            403, f"This needs the {role.value} role; {principal.name} is {principal.role.value}."
        )


def page_user(role: Role = Role.EDITOR) -> Callable[..., Any]:
    """Dependency for page GETs: the signed-in editor, else a redirect to sign-in."""

    def dependency(request: Request) -> Principal:
        principal = _load_principal(request, read_session(request))
        if principal is None:
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            raise HTTPException(
                303,
                "Please sign in.",
                headers={"Location": f"{LOGIN_PATH}?next={quote(target, safe='')}"},
            )
        _refuse_role(principal, role)
        return principal

    return dependency


def form_user(role: Role = Role.EDITOR) -> Callable[..., Any]:
    """Dependency for form POSTs: CSRF first, then a signed-in editor with ``role``."""

    def dependency(request: Request, session: BrowserSession = Depends(check_csrf)) -> Principal:
        principal = _load_principal(request, session)
        if principal is None:
            raise HTTPException(401, "Your session has ended. Sign in again.")
        _refuse_role(principal, role)
        return principal

    return dependency


_bearer = HTTPBearer(auto_error=False, description="An API token from `newsletter editors token`")


def api_user(role: Role = Role.EDITOR) -> Callable[..., Any]:
    """Dependency for the REST API: the editor of a live bearer token with ``role``."""

    def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        principal = None
        if credentials is not None:
            with runtime_of(request).database.session() as db:
                editor = editor_for_token(db, credentials.credentials)
                principal = principal_of(editor) if editor is not None else None
        if principal is None:
            raise HTTPException(
                401,
                "Send a valid API token: Authorization: Bearer <token>.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        _refuse_role(principal, role)
        return principal

    return dependency


def client_ip(request: Request) -> str:
    """The client's address as the server saw it (a proxy must be trusted explicitly)."""
    return request.client.host if request.client else ""
