"""Admin page of a publication's welcome email: form, preview, validation, roles, audit,
and the saved text in the next welcome."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.db import Database
from newsletter.editors.models import AuditEntry, Role
from newsletter.publications.models import Publication
from subscribers import services
from subscribers.services import SignupRequest
from subscribers.view_support import links_of
from subscribers.welcome import EmailWelcomer
from tests.factories import make_publication
from tests.unit.subscribers.factories import NoConfirm, web_evidence

SignIn = Callable[[Role], str]
PAGE = "/editor/publications/morning/welcome"


def _publication(db: Database) -> None:
    with db.session() as session:
        make_publication(session)


def _stored(db: Database) -> tuple[str, str]:
    with db.session() as session:
        row = session.execute(select(Publication.welcome_subject, Publication.welcome_body)).one()
        return row[0], row[1]


def test_admin_writes_the_welcome_and_new_readers_get_it(
    app: FastAPI, client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The built-in text is previewed; the admin's text is saved, audited, previewed, sent."""
    _publication(db)
    token = signed_in(Role.ADMIN)
    form = client.get(PAGE).text
    assert "Welcome email of" in form
    assert "Welcome to" in form  # the built-in subject in the preview
    assert "Thank you for confirming" in form
    assert "(the reader&#39;s own unsubscribe link)" in form
    assert "%%" not in form
    assert (
        'href="/editor/publications/morning/welcome"'
        in client.get("/editor/publications/morning").text
    )
    saved = client.post(
        PAGE,
        data={
            "csrf_token": token,
            "welcome_subject": "  Hello <reader>  ",
            "welcome_body": "Glad you <b>joined</b>.\n\nReply any time.",
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{PAGE}?done=welcome-saved"
    page = client.get(saved.headers["location"]).text
    assert "Welcome email saved." in page
    assert "Hello &lt;reader&gt;" in page
    assert "<b>joined</b>" not in page
    assert _stored(db) == ("Hello <reader>", "Glad you <b>joined</b>.\n\nReply any time.")
    with db.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "publication.welcome")
        ).one()
        assert entry.target == "morning"
    runtime = app.state.runtime
    sender = runtime.sender
    with runtime.database.session() as session:
        request = SignupRequest(
            email="new@example.org", list_slug="morning", evidence=web_evidence(), skip_opt_in=True
        )
        services.sign_up(
            session,
            request,
            confirmer=NoConfirm(),
            welcomer=EmailWelcomer(sender, links_of(runtime)),
        )
    [mail] = sender.to("new@example.org")  # type: ignore[attr-defined]
    assert mail.subject == "Hello <reader>"
    assert "Glad you <b>joined</b>." in mail.text
    assert "Glad you &lt;b&gt;joined&lt;/b&gt;." in mail.html


def test_a_refused_welcome_names_the_field_and_changes_nothing(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Too long a subject: 400, the field named, the typed text kept, nothing stored."""
    _publication(db)
    token = signed_in(Role.ADMIN)
    refused = client.post(
        PAGE, data={"csrf_token": token, "welcome_subject": "x" * 301, "welcome_body": "kept"}
    )
    assert refused.status_code == 400
    assert "Not saved: welcome_subject: at most 300 characters" in refused.text
    assert ">kept</textarea>" in refused.text
    assert _stored(db) == ("", "")


def test_only_admins_see_or_change_the_welcome(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A publisher gets 403 on the page and the form; nothing changes."""
    _publication(db)
    token = signed_in(Role.PUBLISHER)
    assert client.get(PAGE).status_code == 403
    refused = client.post(PAGE, data={"csrf_token": token, "welcome_subject": "Hi"})
    assert refused.status_code == 403
    assert _stored(db) == ("", "")
