"""Admin calls of the API: mailing lists and publication settings, admins only, audited."""

from __future__ import annotations

from fastapi.testclient import TestClient

from newsletter.db import Database
from newsletter.editors.models import AuditEntry, Role
from newsletter.publications.models import Publication
from subscribers.models import MailingList
from tests.factories import make_publication
from tests.unit.newsletter.backoffice.conftest import Accounts


def _actions(db: Database) -> list[tuple[str, str]]:
    with db.session() as session:
        return [(e.action, e.target) for e in session.query(AuditEntry).order_by(AuditEntry.id)]


def test_admins_list_add_and_switch_mailing_lists(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """Admins see every list, add one, switch its opt-in mode; each change is audited."""
    with db.session() as session:
        make_publication(session)
    admin = accounts.bearer(Role.ADMIN)
    assert [m["slug"] for m in client.get("/api/lists", headers=admin).json()] == ["morning"]
    added = client.post(
        "/api/lists",
        json={"publication": "morning", "slug": "weekend", "name": "Weekend edition"},
        headers=admin,
    )
    assert added.status_code == 201
    assert added.json() == {
        "slug": "weekend",
        "name": "Weekend edition",
        "publication": "morning",
        "double_opt_in": True,
        "confirmed": 0,
        "pending": 0,
    }
    switched = client.put("/api/lists/weekend/opt-in", json={"double_opt_in": False}, headers=admin)
    assert switched.status_code == 200
    assert switched.json()["double_opt_in"] is False
    assert _actions(db) == [("list.add", "weekend"), ("list.single_opt_in", "weekend")]


def test_bad_lists_are_refused_with_the_field_named(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """A taken slug, an unknown publication or list, or a bad slug is a 4xx and adds nothing."""
    with db.session() as session:
        make_publication(session)
    admin = accounts.bearer(Role.ADMIN)
    body = {"publication": "morning", "slug": "morning", "name": "Again"}
    taken = client.post("/api/lists", json=body, headers=admin)
    assert taken.status_code == 409
    assert "already exists" in taken.json()["error"]
    ghost = client.post("/api/lists", json={**body, "publication": "ghost"}, headers=admin)
    assert ghost.status_code == 404
    assert "--publication" in ghost.json()["error"]
    bad = client.post("/api/lists", json={**body, "slug": "Bad Slug"}, headers=admin)
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("slug:")
    assert (
        client.put(
            "/api/lists/nowhere/opt-in", json={"double_opt_in": True}, headers=admin
        ).status_code
        == 404
    )
    with db.session() as session:
        assert session.query(MailingList).count() == 0
    assert _actions(db) == []


def test_lists_and_settings_are_admin_only(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """Editors and publishers get 403 on every admin call, and nothing changes."""
    with db.session() as session:
        make_publication(session)
    for role in (Role.EDITOR, Role.PUBLISHER):
        headers = accounts.bearer(role)
        assert client.get("/api/lists", headers=headers).status_code == 403
        assert (
            client.post(
                "/api/lists",
                json={"publication": "morning", "slug": "x", "name": "X"},
                headers=headers,
            ).status_code
            == 403
        )
        assert (
            client.put(
                "/api/lists/morning/opt-in", json={"double_opt_in": False}, headers=headers
            ).status_code
            == 403
        )
        assert (
            client.patch(
                "/api/publications/morning", json={"name": "Taken over"}, headers=headers
            ).status_code
            == 403
        )
    with db.session() as session:
        assert session.query(Publication).one().name != "Taken over"
        assert session.query(MailingList).count() == 0
    assert _actions(db) == []


def test_admins_change_publication_settings(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """A patch changes only the fields given, is validated as a whole, and is audited."""
    with db.session() as session:
        make_publication(session)
    admin = accounts.bearer(Role.ADMIN)
    changed = client.patch(
        "/api/publications/morning",
        json={"tagline": "Five things before nine", "track_opens": True},
        headers=admin,
    )
    assert changed.status_code == 200
    assert changed.json()["tagline"] == "Five things before nine"
    assert changed.json()["track_opens"] is True
    refused = client.patch(
        "/api/publications/morning", json={"from_email": "not an address"}, headers=admin
    )
    assert refused.status_code == 400
    assert "from_email" in refused.json()["error"]
    unknown = client.patch("/api/publications/morning", json={"slug": "other"}, headers=admin)
    assert unknown.status_code == 422
    with db.session() as session:
        publication = session.query(Publication).one()
        assert publication.from_email != "not an address"
        assert publication.slug == "morning"
    with db.session() as session:
        [entry] = session.query(AuditEntry).all()
        assert (entry.action, entry.target) == ("publication.edit", "morning")
        assert entry.detail["changed"] == ["tagline", "track_opens"]


def test_reading_lists_writes_nothing_and_answers_one_list_with_its_counts(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """GET /api/lists creates no default list; a change answers with that list's own counts."""
    with db.session() as session:
        make_publication(session)
    admin = accounts.bearer(Role.ADMIN)
    listed = client.get("/api/lists", headers=admin).json()
    assert [(m["slug"], m["double_opt_in"], m["pending"]) for m in listed] == [("morning", True, 0)]
    with db.session() as session:
        assert session.query(MailingList).count() == 0
    client.post("/api/subscribe", json={"email": "ann@example.org", "list": "morning"})
    switched = client.put("/api/lists/morning/opt-in", json={"double_opt_in": False}, headers=admin)
    assert switched.json() == {
        "slug": "morning",
        "name": "The Morning Test",
        "publication": "morning",
        "double_opt_in": False,
        "confirmed": 0,
        "pending": 1,
    }
