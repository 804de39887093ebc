"""The API's decisions: corrections, derived titles, withdrawals and takedowns."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.backoffice.api import openapi_document
from newsletter.briefings import services as briefings
from newsletter.briefings.models import BriefingState
from newsletter.db import Database
from newsletter.digests import services as digests
from newsletter.digests.models import Digest
from newsletter.editors.models import Role
from newsletter.publications.services import get_publication
from newsletter.publishing.models import ChangeState, PublicChange
from tests.factories import briefing_content, make_briefing, make_publication
from tests.unit.newsletter.backoffice.conftest import Accounts

BASE = "/api/briefings/story"
DAY = date(2026, 3, 2)
CUTOFF = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
SECRET = "A libellous claim about a named person."


def _published(db: Database) -> int:
    with db.session() as session:
        make_publication(session)
        make_briefing(session, slug="story", title="Storm closes port", lede=SECRET)
        publication = get_publication(session, "morning")
        result = digests.assemble_digest(session, publication, DAY, now=CUTOFF, cutoff=CUTOFF)
        digests.publish_digest(session, result.digest.id)
        return result.digest.id


def _post(client: TestClient, accounts: Accounts, path: str, body: object, role: Role) -> object:
    headers = {**accounts.bearer(role), "content-type": "application/json"}
    return client.post(BASE + path, content=json.dumps(body), headers=headers)


def _changes(db: Database) -> list[tuple[str, ChangeState]]:
    with db.session() as session:
        rows = session.scalars(select(PublicChange).order_by(PublicChange.id))
        return [(row.reason, row.state) for row in rows]


def _web_copy(db: Database, digest_id: int) -> str:
    with db.session() as session:
        return session.get_one(Digest, digest_id).web_html or ""


def test_approving_a_published_briefing_needs_a_correction_note(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """Without ``correction_note`` it is 422 and nothing changes; with it, a public correction."""
    digest_id = _published(db)
    with db.session() as session:
        content = briefing_content(slug="story", title="Storm closes port", lede="Reopened.")
        briefings.import_content(session, content, editor="Ed")
    detail = client.get(BASE, headers=accounts.bearer(Role.EDITOR)).json()
    assert (detail["published"], detail["state"], detail["live_revision"]) == (True, "draft", 1)
    refused = _post(client, accounts, "/approve", {"comment": "ok"}, Role.EDITOR)
    assert refused.status_code == 422
    assert "approving it again is a correction" in refused.json()["error"]
    assert _changes(db) == []
    note = "An earlier version said the port stayed shut."
    done = _post(client, accounts, "/approve", {"correction_note": note}, Role.EDITOR)
    assert done.status_code == 200
    body = done.json()
    assert (body["state"], body["live_revision"]) == ("approved", 2)
    assert [(c["kind"], c["note"], c["editor"]) for c in body["public_changes"]] == [
        ("correction", note, "Editor")
    ]
    assert _changes(db) == [("correction of story", ChangeState.DONE)]
    assert note in _web_copy(db, digest_id)


def test_a_derived_title_needs_confirm_title(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """``title_needs_confirmation`` shows it; approving needs ``confirm_title``."""
    with db.session() as session:
        make_briefing(
            session,
            slug="story",
            title_derived=True,
            state=BriefingState.DRAFT,
            approved_revision=None,
        )
    assert client.get(BASE, headers=accounts.bearer(Role.EDITOR)).json()["title_needs_confirmation"]
    refused = _post(client, accounts, "/approve", {}, Role.EDITOR)
    assert refused.status_code == 422
    assert "confirm_title" in refused.json()["error"]
    done = _post(client, accounts, "/approve", {"confirm_title": True}, Role.EDITOR)
    assert done.status_code == 200
    assert done.json()["title_needs_confirmation"] is False
    assert done.json()["state"] == "approved"


def test_takedown_is_for_publishers_with_a_reason(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """Editors get 403; a blank reason is 422; a publisher's takedown removes the text."""
    digest_id = _published(db)
    assert _post(client, accounts, "/takedown", {"reason": "Order"}, Role.EDITOR).status_code == 403
    assert _post(client, accounts, "/takedown", {"reason": "  "}, Role.PUBLISHER).status_code == 422
    assert _post(client, accounts, "/takedown", {}, Role.PUBLISHER).status_code == 422
    assert _changes(db) == []
    done = _post(client, accounts, "/takedown", {"reason": "Court order 12"}, Role.ADMIN)
    assert done.status_code == 200
    assert done.json()["state"] == "withdrawn"
    assert done.json()["taken_down_at"] is not None
    assert _changes(db) == [("takedown of story", ChangeState.DONE)]
    assert SECRET not in _web_copy(db, digest_id)
    again = _post(client, accounts, "/takedown", {"reason": "Again"}, Role.ADMIN)
    assert again.status_code == 409
    approve = _post(client, accounts, "/approve", {"correction_note": "Back?"}, Role.ADMIN)
    assert approve.status_code == 409
    put = client.put(
        BASE,
        content=json.dumps({"lede": ["Back again."]}),
        headers={**accounts.bearer(Role.ADMIN), "content-type": "application/json"},
    )
    assert put.status_code == 409
    assert "was taken down" in put.json()["error"]


def test_withdrawing_a_published_briefing_goes_public(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """Withdrawal over the API reaches the web copy like the page's."""
    digest_id = _published(db)
    done = _post(client, accounts, "/withdraw", {"comment": "Unsourced"}, Role.EDITOR)
    assert done.json()["state"] == "withdrawn"
    assert _changes(db) == [("withdrawal of story", ChangeState.DONE)]
    assert SECRET not in _web_copy(db, digest_id)


def test_the_decisions_are_in_the_openapi_document() -> None:
    """Approve documents correction_note and confirm_title; takedown its required reason."""
    document = openapi_document()
    schemas = document["components"]["schemas"]
    assert {"correction_note", "confirm_title", "comment"} <= set(schemas["Approval"]["properties"])
    assert schemas["Takedown"]["required"] == ["reason"]
    takedown = document["paths"]["/api/briefings/{slug}/takedown"]["post"]
    assert {"200", "403", "409", "422"} <= set(takedown["responses"])
