"""The REST API: token auth, every role boundary, idempotent ingest, clear 4xx answers."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from newsletter.backoffice.api_docs import example, prose
from newsletter.briefings.models import Briefing, BriefingState
from newsletter.db import Database, utcnow
from newsletter.editors import services
from newsletter.editors.models import AuditEntry, Role
from newsletter.providers.memory import MemorySender
from newsletter.publications.models import Publication
from newsletter.schedules.models import ScheduledEdition
from tests.factories import make_briefing, make_publication
from tests.unit.newsletter.backoffice.conftest import Accounts

BRIEFING = {
    "title": "Rail strike called off",
    "slug": "rail-strike",
    "lede": ["Unions called off Monday's strike."],
    "topics": [{"name": "Transport"}],
}


def _post(client: TestClient, path: str, body: object, headers: dict[str, str]) -> object:
    return client.post(
        path, content=json.dumps(body), headers={**headers, "content-type": "application/json"}
    )


def _count(db: Database, model: type) -> int:
    with db.session() as session:
        return session.query(model).count()


def test_no_token_is_401_with_a_challenge(client: TestClient, accounts: Accounts) -> None:
    """Without a bearer token, or with a wrong or revoked one, the API answers 401."""
    response = client.get("/api/briefings")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["status"] == 401
    for bad in ("nlt_wrong", "not-even-a-token", "x" * 300):
        assert (
            client.get("/api/briefings", headers={"Authorization": f"Bearer {bad}"}).status_code
            == 401
        )


def test_revoked_token_and_disabled_account_stop_working(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """Revoking a token or disabling its account ends API access at once."""
    headers = accounts.bearer(Role.EDITOR)
    assert client.get("/api/briefings", headers=headers).status_code == 200
    with db.session() as session:
        editor = services.get_editor(session, "Editor")
        token = editor.tokens[0]
        assert token.last_used_at is not None
        services.revoke_token(session, token.id)
    assert client.get("/api/briefings", headers=headers).status_code == 401
    headers = accounts.bearer(Role.PUBLISHER)
    with db.session() as session:
        services.set_disabled(session, services.get_editor(session, "Publisher"))
    assert client.get("/api/briefings", headers=headers).status_code == 401


def test_ingest_is_idempotent_by_slug(client: TestClient, db: Database, accounts: Accounts) -> None:
    """Posting the same briefing twice creates it once; changed content adds a revision."""
    headers = accounts.bearer(Role.EDITOR)
    first = _post(client, "/api/briefings", BRIEFING, headers)
    assert first.status_code == 201
    assert first.json()["action"] == "created"
    again = _post(client, "/api/briefings", BRIEFING, headers)
    assert again.status_code == 200
    assert again.json()["action"] == "unchanged"
    changed = _post(client, "/api/briefings", {**BRIEFING, "lede": ["Now on again."]}, headers)
    assert changed.json()["action"] == "revised"
    assert changed.json()["revision"] == 2
    assert _count(db, Briefing) == 1


def test_ingest_schema_errors_are_422_with_the_field_path(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """A field that fails validation is named by its JSON path; nothing is stored."""
    headers = accounts.bearer(Role.EDITOR)
    response = _post(client, "/api/briefings", {**BRIEFING, "lede": [""]}, headers)
    assert response.status_code == 422
    assert "$.lede[0]" in response.json()["error"]
    response = client.post(
        "/api/briefings", content=b"{nope", headers={**headers, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "line 1" in response.json()["error"]
    response = _post(client, "/api/briefings", {**BRIEFING, "extra": 1}, headers)
    assert response.status_code == 422
    assert _count(db, Briefing) == 0


def test_approve_reject_withdraw_over_the_api(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """An editor token can approve, reject (with a reason) and withdraw; the history names them."""
    headers = accounts.bearer(Role.EDITOR)
    with db.session() as session:
        make_briefing(session, slug="one", state=BriefingState.DRAFT, approved_revision=None)
        make_briefing(session, slug="two", state=BriefingState.DRAFT, approved_revision=None)
    approved = _post(client, "/api/briefings/one/approve", {"comment": "ok"}, headers)
    assert approved.status_code == 200
    assert approved.json()["state"] == "approved"
    assert approved.json()["history"][-1]["editor"] == "Editor"
    assert _post(client, "/api/briefings/two/reject", {}, headers).status_code == 422
    assert (
        _post(client, "/api/briefings/two/reject", {"comment": "Why?"}, headers).json()["state"]
        == "rejected"
    )
    assert _post(client, "/api/briefings/one/withdraw", {}, headers).json()["state"] == "withdrawn"
    assert _post(client, "/api/briefings/one/approve", {}, headers).status_code == 409
    assert client.get("/api/briefings/nothing", headers=headers).status_code == 404
    listed = client.get("/api/briefings?state=rejected", headers=headers).json()
    assert [row["slug"] for row in listed] == ["two"]
    assert client.get("/api/briefings/one", headers=headers).json()["content"]["slug"] == "one"


@pytest.mark.parametrize(
    ("method", "path", "body", "needed"),
    [
        (
            "put",
            "/api/publications/morning/schedule",
            {"send_time": "06:30", "timezone": "UTC", "weekdays": ["mon"]},
            Role.PUBLISHER,
        ),
        ("post", "/api/publications/morning/editions", {"at": "2099-01-05 07:00"}, Role.PUBLISHER),
        ("post", "/api/publications/morning/test-send", {}, Role.PUBLISHER),
        ("post", "/api/publications", {"slug": "evening"}, Role.ADMIN),
        ("get", "/api/editors", None, Role.ADMIN),
        (
            "post",
            "/api/editors",
            {"name": "New", "email": "new@example.org", "role": "admin"},
            Role.ADMIN,
        ),
    ],
)
def test_each_role_boundary_is_enforced(
    client: TestClient,
    db: Database,
    accounts: Accounts,
    mailbox: MemorySender,
    method: str,
    path: str,
    body: object,
    needed: Role,
) -> None:
    """A role below the one needed gets 403 and nothing changes."""
    with db.session() as session:
        make_publication(session)
    before = (_count(db, Publication), _count(db, AuditEntry))
    for role in Role:
        if role.allows(needed):
            continue
        headers = {**accounts.bearer(role), "content-type": "application/json"}
        response = client.request(
            method, path, content=json.dumps(body) if body is not None else None, headers=headers
        )
        assert response.status_code == 403, (role, response.text)
        assert needed.value in response.json()["error"]
    assert (_count(db, Publication), _count(db, AuditEntry)) == before
    assert mailbox.sent == []


def test_publisher_schedules_and_cancels(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """A publisher sets the schedule, adds a one-off edition and cancels it; all audited."""
    headers = accounts.bearer(Role.PUBLISHER)
    with db.session() as session:
        make_publication(session)
    response = client.put(
        "/api/publications/morning/schedule",
        json={"send_time": "06:30", "timezone": "Europe/London", "weekdays": ["mon", "fri"]},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["send_time"] == "06:30"
    assert response.json()["weekdays"] == ["mon", "fri"]
    bad = client.put(
        "/api/publications/morning/schedule",
        json={"send_time": "06:30", "timezone": "Mars/Olympus", "weekdays": ["mon"]},
        headers=headers,
    )
    assert bad.status_code == 400
    assert "timezone" in bad.json()["error"]
    when = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%d 09:00")
    added = client.post("/api/publications/morning/editions", json={"at": when}, headers=headers)
    assert added.status_code == 201, added.text
    edition_id = added.json()["id"]
    cancelled = client.post(f"/api/scheduled/{edition_id}/cancel", headers=headers)
    assert cancelled.json()["state"] == "cancelled"
    schedule = client.get("/api/publications/morning/schedule", headers=headers).json()
    assert schedule["editions"][0]["state"] == "cancelled"
    with db.session() as session:
        actions = {e.action for e in session.query(AuditEntry)}
    assert {"schedule.set", "schedule.once", "schedule.cancel"} <= actions


def test_test_send_goes_to_the_editor_only(
    client: TestClient, db: Database, accounts: Accounts, mailbox: MemorySender
) -> None:
    """A publisher's test send reaches one address, marked as a test, and freezes nothing."""
    with db.session() as session:
        make_publication(session)
        make_briefing(session, slug="story", approved_at=utcnow() - timedelta(hours=1))
    response = client.post(
        "/api/publications/morning/test-send", json={}, headers=accounts.bearer(Role.PUBLISHER)
    )
    assert response.status_code == 200, response.text
    assert response.json()["to"] == "publisher@example.org"
    assert [m.to for m in mailbox.sent] == ["publisher@example.org"]
    assert "TEST" in mailbox.sent[0].subject
    assert (
        client.get("/api/publications/morning/digests", headers=accounts.bearer(Role.EDITOR)).json()
        == []
    )


def test_admin_manages_publications_and_accounts(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """An admin adds a publication and an account; duplicates are 409 with the reason."""
    headers = accounts.bearer(Role.ADMIN)
    spec = {
        "slug": "evening",
        "name": "Evening",
        "from_email": "eve@example.org",
        "base_url": "https://news.example.org",
        "postal_address": "1 Street",
    }
    assert client.post("/api/publications", json=spec, headers=headers).status_code == 201
    assert client.post("/api/publications", json=spec, headers=headers).status_code == 409
    assert client.get("/api/publications/evening", headers=headers).json()["name"] == "Evening"
    assert [p["slug"] for p in client.get("/api/publications", headers=headers).json()] == [
        "evening"
    ]
    new = {"name": "Nia", "email": "nia@example.org", "role": "editor"}
    assert client.post("/api/editors", json=new, headers=headers).status_code == 201
    again = client.post("/api/editors", json=new, headers=headers)
    assert again.status_code == 409
    assert "already exists" in again.json()["error"]
    names = [e["name"] for e in client.get("/api/editors", headers=headers).json()]
    assert "Nia" in names


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    """The OpenAPI document declares bearer auth; /api/docs is a page with no scripts."""
    document = client.get("/api/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "Briefing" in document["components"]["schemas"]
    assert "/api/briefings" in document["paths"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "<script" not in docs.text
    assert "/api/briefings/{slug}/approve" in docs.text
    # Prose, not reStructuredText: ``marks`` become <code>; bodies have an example.
    assert "``" not in docs.text
    assert "<code>correction_note</code> is required" in docs.text
    assert "&#34;correction_note&#34;: null" in docs.text
    assert "Example body" in docs.text


def test_examples_follow_the_schema() -> None:
    """An example takes a field's own example or default, an enum's first value, a ref's
    shape; optional fields of nested objects are left out."""
    components = {
        "Inner": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
            "required": ["a"],
        }
    }
    schema = {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date"},
            "mode": {"enum": ["only", "first"]},
            "size": {"type": "integer", "default": 10},
            "inner": {"$ref": "#/components/schemas/Inner"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
            "tags": {"type": "array", "items": {"type": "string", "examples": ["Climate"]}},
        },
    }
    assert example(schema, components) == {
        "when": "2026-12-01",
        "mode": "only",
        "size": 10,
        "inner": {"a": 1},
        "maybe": True,
        "tags": ["Climate"],
    }
    assert str(prose("One ``a < b``.\n\nTwo `x`.")) == (
        "<p>One <code>a &lt; b</code>.</p>\n<p>Two <code>x</code>.</p>"
    )


def test_send_now_over_the_api(client: TestClient, db: Database, accounts: Accounts) -> None:
    """Publishers send today's edition now (201, audited); a second try is 409; editors 403."""
    with db.session() as session:
        make_publication(session)
    path = "/api/publications/morning/send-now"
    refused = client.post(path, headers=accounts.bearer(Role.EDITOR))
    assert refused.status_code == 403
    assert _count(db, ScheduledEdition) == 0
    sent = client.post(path, headers=accounts.bearer(Role.PUBLISHER))
    assert sent.status_code == 201
    body = sent.json()
    assert (body["publication"], body["kind"], body["state"]) == ("morning", "now", "scheduled")
    again = client.post(path, headers=accounts.bearer(Role.PUBLISHER))
    assert again.status_code == 409
    assert again.json()["error"].startswith("Nothing was sent: morning ")
    assert "already scheduled" in again.json()["error"]
    assert _count(db, ScheduledEdition) == 1
    assert (
        client.post(
            "/api/publications/ghost/send-now", headers=accounts.bearer(Role.ADMIN)
        ).status_code
        == 404
    )
    schedule = client.get(
        "/api/publications/morning/schedule", headers=accounts.bearer(Role.EDITOR)
    )
    assert [e["kind"] for e in schedule.json()["editions"]] == ["now"]
    with db.session() as session:
        audits = session.query(AuditEntry).filter_by(action="edition.send_now").all()
        assert [(a.actor, a.target) for a in audits] == [("Publisher", _label(body))]


def _label(body: dict[str, object]) -> str:
    return f"edition {body['id']} ({body['publication']} {body['edition_date']})"
