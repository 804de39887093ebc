"""The editors' pages: sign-in, CSRF on every form, roles, the queue and one briefing."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from newsletter.backoffice.signin import _safe_next
from newsletter.briefings.models import Briefing, BriefingState
from newsletter.db import Database
from newsletter.editors.auth import COOKIE
from newsletter.editors.models import AuditEntry, Role
from tests.factories import make_briefing
from tests.unit.newsletter.backoffice.conftest import Accounts, csrf_of, sign_in

SignIn = Callable[[Role], str]


def _draft(db: Database, slug: str = "rail-strike", **extra: object) -> None:
    with db.session() as session:
        make_briefing(
            session, slug=slug, state=BriefingState.DRAFT, approved_revision=None, **extra
        )


def _state(db: Database, slug: str) -> BriefingState:
    with db.session() as session:
        briefing = session.query(Briefing).filter_by(slug=slug).one()
        return briefing.state


def test_pages_send_strangers_to_sign_in(client: TestClient) -> None:
    """A page GET without a session redirects to the sign-in form, keeping the target."""
    response = client.get("/editor/briefings?state=draft")
    assert response.status_code == 303
    assert (
        response.headers["location"] == "/editor/login?next=%2Feditor%2Fbriefings%3Fstate%3Ddraft"
    )
    assert client.get("/editor/").headers["location"] == "/editor/briefings"


def test_sign_in_sets_a_hardened_cookie_and_goes_to_next(
    client: TestClient, accounts: Accounts
) -> None:
    """The session cookie is HttpOnly and SameSite=Lax; sign-in returns to the page asked for."""
    token = csrf_of(client.get("/editor/login?next=/editor/editions").text)
    response = client.post(
        "/editor/login",
        data={
            "name": "editor",
            "password": "correct horse battery",
            "csrf_token": token,
            "next": "/editor/editions",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/editor/editions"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(COOKIE + "=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain-http development


def test_cookie_is_secure_on_https(
    data_dir: object, accounts: Accounts, client: TestClient
) -> None:
    """Served over https, the session cookie is marked Secure."""
    client.app.state.runtime.settings.base_url = "https://news.example.org"  # type: ignore[attr-defined]
    response = client.get("/editor/login")
    assert "Secure" in response.headers["set-cookie"]


def test_next_never_leaves_the_editor_app() -> None:
    """Only paths under /editor/ are followed after sign-in: no open redirect."""
    assert _safe_next("/editor/editions?x=1") == "/editor/editions?x=1"
    for bad in ("https://evil.example/", "//evil.example/editor/", "/public", "/editor/\\evil"):
        assert _safe_next(bad) == "/editor/briefings"


def test_wrong_password_is_refused_and_audited(
    client: TestClient, accounts: Accounts, db: Database
) -> None:
    """A wrong password gives 401, one message for every cause, and an audit entry."""
    token = csrf_of(client.get("/editor/login").text)
    response = client.post(
        "/editor/login", data={"name": "Editor", "password": "wrong password!", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "name or password is not right" in response.text
    with db.session() as session:
        actions = [e.action for e in session.query(AuditEntry)]
    assert "login.failed" in actions


def test_login_is_throttled_per_address_and_audited(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """Failures from this address make it wait (429), its message and Retry-After naming
    the same figure, and the refusal is audited."""
    token = csrf_of(client.get("/editor/login").text)
    for _ in range(5):
        client.post(
            "/editor/login", data={"name": "Editor", "password": "x" * 12, "csrf_token": token}
        )
    response = client.post(
        "/editor/login",
        data={"name": "Editor", "password": "correct horse battery", "csrf_token": token},
    )
    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    assert retry_after in (30, 60)  # the fourth failure waits 30 s; a fifth tried in it is refused
    assert f"Try again in {retry_after} seconds." in response.text or (
        retry_after == 60 and "Try again in 1 minute." in response.text
    )
    with db.session() as session:
        throttled = [e for e in session.query(AuditEntry) if e.action == "login.throttled"]
    assert throttled
    assert throttled[-1].detail["retry_after"] == retry_after


def test_login_form_needs_its_csrf_token(client: TestClient, accounts: Accounts) -> None:
    """Signing in without the form's token (login CSRF) is refused with 403."""
    client.get("/editor/login")
    response = client.post(
        "/editor/login", data={"name": "Editor", "password": "correct horse battery"}
    )
    assert response.status_code == 403
    fresh = TestClient(client.app, follow_redirects=False)
    assert (
        fresh.post(
            "/editor/login",
            data={"name": "Editor", "password": "correct horse battery", "csrf_token": "0" * 64},
        ).status_code
        == 403
    )


def test_queue_lists_drafts_with_warnings_and_filters(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The queue shows drafts and their import warnings; state and topic filters narrow it."""
    _draft(
        db,
        "rail-strike",
        topics=["Transport"],
        warnings=[{"code": "derived_title", "message": "Title <derived> from the lede"}],
    )
    _draft(db, "budget-vote", topics=["Economy"])
    with db.session() as session:
        make_briefing(session, slug="old-news", topics=["Transport"])
    signed_in(Role.EDITOR)
    page = client.get("/editor/briefings").text
    assert "Rail strike" in page
    assert "Budget vote" in page
    assert "Old news" not in page
    assert "Title &lt;derived&gt; from the lede" in page
    page = client.get("/editor/briefings?state=all&topic=Transport").text
    assert "Rail strike" in page
    assert "Old news" in page
    assert "Budget vote" not in page
    assert "No briefings" in client.get("/editor/briefings?state=rejected").text


def test_approve_from_the_briefing_page(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """An editor approves a draft with a note; the history shows who did it."""
    _draft(db)
    token = signed_in(Role.EDITOR)
    page = client.get("/editor/briefings/rail-strike").text
    assert "Approve revision 1" in page
    assert "Reject" in page
    response = client.post(
        "/editor/briefings/rail-strike/approve", data={"csrf_token": token, "comment": "fine"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/editor/briefings/rail-strike?done=approved"
    assert _state(db, "rail-strike") is BriefingState.APPROVED
    page = client.get(response.headers["location"]).text
    assert "Approved. The briefing goes into the next edition." in page
    assert "<strong>Editor</strong> approved revision 1" in page
    assert "Withdraw from later editions" in page


def test_reject_needs_a_reason_and_withdraw_works(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A reject without a reason is refused on the page; with one it is recorded; withdraw works."""
    _draft(db)
    token = signed_in(Role.EDITOR)
    assert (
        client.post("/editor/briefings/rail-strike/reject", data={"csrf_token": token}).status_code
        == 422
    )
    blank = client.post(
        "/editor/briefings/rail-strike/reject", data={"csrf_token": token, "reason": "   "}
    )
    assert blank.status_code == 422
    assert "Reason: say why the briefing is rejected" in blank.text
    assert _state(db, "rail-strike") is BriefingState.DRAFT
    client.post(
        "/editor/briefings/rail-strike/reject", data={"csrf_token": token, "reason": "Sources?"}
    )
    assert _state(db, "rail-strike") is BriefingState.REJECTED
    assert "Sources?" in client.get("/editor/briefings/rail-strike").text
    with db.session() as session:
        make_briefing(session, slug="live-one")
    client.post("/editor/briefings/live-one/withdraw", data={"csrf_token": token})
    assert _state(db, "live-one") is BriefingState.WITHDRAWN


def test_refused_transition_is_409(client: TestClient, db: Database, signed_in: SignIn) -> None:
    """Approving an approved briefing is a conflict and changes nothing."""
    with db.session() as session:
        make_briefing(session, slug="done")
    token = signed_in(Role.EDITOR)
    assert (
        client.post("/editor/briefings/done/approve", data={"csrf_token": token}).status_code == 409
    )


def test_form_posts_without_valid_csrf_are_403_and_change_nothing(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A missing or wrong CSRF token is refused before anything happens."""
    _draft(db)
    signed_in(Role.ADMIN)
    for data in ({}, {"csrf_token": "f" * 64}, {"csrf_token": ""}):
        response = client.post("/editor/briefings/rail-strike/approve", data=data)
        assert response.status_code == 403
    assert _state(db, "rail-strike") is BriefingState.DRAFT


def test_token_of_another_session_is_refused(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """A CSRF token is bound to its session: one taken from another browser fails."""
    _draft(db)
    other = TestClient(client.app, follow_redirects=False)
    stolen = sign_in(other, "Admin")
    sign_in(client, "Editor")
    response = client.post("/editor/briefings/rail-strike/approve", data={"csrf_token": stolen})
    assert response.status_code == 403
    assert _state(db, "rail-strike") is BriefingState.DRAFT


def test_post_without_a_session_is_401(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """A form POST with a valid anonymous token but no sign-in is 401 and changes nothing."""
    _draft(db)
    token = csrf_of(client.get("/editor/login").text)
    response = client.post("/editor/briefings/rail-strike/approve", data={"csrf_token": token})
    assert response.status_code == 401
    assert _state(db, "rail-strike") is BriefingState.DRAFT


def test_sign_out_ends_the_session(client: TestClient, signed_in: SignIn) -> None:
    """After signing out the pages redirect to sign-in again."""
    token = signed_in(Role.EDITOR)
    response = client.post("/editor/logout", data={"csrf_token": token})
    assert response.headers["location"] == "/editor/login?done=signed-out"
    assert client.get("/editor/briefings").status_code == 303


def test_sign_out_kills_the_old_cookie(client: TestClient, db: Database, signed_in: SignIn) -> None:
    """The cookie of a signed-out session, replayed with its page's token, is dead (issue 17 B2)."""
    token = signed_in(Role.ADMIN)
    old_cookie = client.cookies.get(COOKIE)
    assert old_cookie
    client.post("/editor/logout", data={"csrf_token": token})
    replay = TestClient(client.app, raise_server_exceptions=False, follow_redirects=False)
    replay.cookies.set(COOKIE, old_cookie)
    assert replay.get("/editor/briefings").status_code == 303
    response = replay.post("/editor/briefings/x/approve", data={"csrf_token": token})
    assert response.status_code == 401
    with db.session() as session:
        assert "logout" in [e.action for e in session.query(AuditEntry)]


def test_disabling_an_account_ends_its_sessions(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A disabled editor's open session stops working at once."""
    signed_in(Role.EDITOR)
    from newsletter.editors import services

    with db.session() as session:
        services.set_disabled(session, services.get_editor(session, "Editor"))
    assert client.get("/editor/briefings").status_code == 303


def test_tampered_cookie_is_ignored(client: TestClient, signed_in: SignIn) -> None:
    """A session cookie whose signature does not match counts as no session."""
    signed_in(Role.ADMIN)
    value = client.cookies.get(COOKIE)
    assert value
    client.cookies.clear()
    client.cookies.set(COOKIE, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert client.get("/editor/briefings").status_code == 303
