"""The alert API: the check the confirmation shows, sending, the admin-only override, and
refusals that change nothing; both routes are in the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.backoffice.api import openapi_document
from newsletter.briefings.models import BriefingState
from newsletter.db import Database
from newsletter.digests.models import Digest
from newsletter.editors.models import AuditEntry, Role
from newsletter.publications.services import get_publication
from newsletter.runtime import Runtime
from tests.factories import make_briefing
from tests.unit.newsletter.backoffice.conftest import Accounts
from tests.unit.newsletter.pipeline import alert_seed
from tests.unit.newsletter.schedules import seed


@pytest.fixture
def planned(app: FastAPI, db: Database) -> list[int]:
    """Briefings "flood" (approved, on Climate) and "draft", three alert readers on Climate
    and one on Sport; the digests a worker was asked to plan."""
    with db.session() as session:
        pub = seed.publication(session, briefings=0)
        make_briefing(session, slug="flood", title="Flood warning", topics=["Climate"])
        make_briefing(session, slug="draft", state=BriefingState.DRAFT)
        alert_seed.alert_readers(session, pub, 3, topics=["Climate"])
        alert_seed.alert_readers(session, pub, 1, start=10, topics=["Sport"])
    asked: list[int] = []

    def request_plan(rt: Runtime, digest_id: int) -> bool:
        asked.append(digest_id)
        return True

    app.state.request_plan = request_plan
    return asked


def _post(client: TestClient, accounts: Accounts, slug: str, role: Role, **body: Any) -> Any:
    headers = {**accounts.bearer(role), "content-type": "application/json"}
    payload = json.dumps({"publication": "morning", **body})
    return client.post(f"/api/briefings/{slug}/alert", content=payload, headers=headers)


def _alerts(db: Database) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(Digest.id).where(Digest.cadence == "alert")))


def test_check_then_send(
    client: TestClient, accounts: Accounts, db: Database, planned: list[int]
) -> None:
    """GET counts the readers on the briefing's topics; POST starts it (201) and asks a
    worker to plan it; the second POST is a 409 naming the first alert."""
    check = client.get(
        "/api/briefings/flood/alert?publication=morning", headers=accounts.bearer(Role.PUBLISHER)
    )
    assert check.status_code == 200, check.text
    assert check.json() == {
        "publication": "morning",
        "briefing_id": check.json()["briefing_id"],
        "slug": "flood",
        "title": "Flood warning",
        "topics": ["Climate"],
        "readers": 3,
        "sent_today": 0,
        "limit": 3,
        "over_limit": False,
    }
    sent = _post(client, accounts, "flood", Role.PUBLISHER)
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["readers"] == 3
    assert body["planning_requested"] is True
    assert body["url"].endswith(f"/p/morning/alerts/{check.json()['briefing_id']}/")
    assert planned == [body["digest_id"]] == _alerts(db)
    again = _post(client, accounts, "flood", Role.PUBLISHER)
    assert again.status_code == 409
    assert f"digest {body['digest_id']}" in again.json()["error"]
    assert planned == [body["digest_id"]]


def test_refusals_change_nothing(
    client: TestClient, accounts: Accounts, db: Database, planned: list[int]
) -> None:
    """An editor may not send (403); a draft is 409; an unknown briefing 404; unknown
    fields 422; nothing is started, nothing planned."""
    assert _post(client, accounts, "flood", Role.EDITOR).status_code == 403
    draft = _post(client, accounts, "draft", Role.PUBLISHER)
    assert draft.status_code == 409
    assert "only an approved briefing" in draft.json()["error"]
    assert _post(client, accounts, "nope", Role.PUBLISHER).status_code == 404
    assert _post(client, accounts, "flood", Role.PUBLISHER, extra=1).status_code == 422
    assert (planned, _alerts(db)) == ([], [])


def test_the_limit_and_the_admin_override(
    client: TestClient, accounts: Accounts, db: Database, planned: list[int]
) -> None:
    """Past alerts_per_day: 409 without over_limit, 403 for a publisher with it, 201 for an
    admin with it, audited as over the limit."""
    with db.session() as session:
        get_publication(session, "morning").alerts_per_day = 0
    refused = _post(client, accounts, "flood", Role.PUBLISHER)
    assert refused.status_code == 409
    assert "needs an admin's override" in refused.json()["error"]
    forbidden = _post(client, accounts, "flood", Role.PUBLISHER, over_limit=True)
    assert forbidden.status_code == 403
    assert "only an admin" in forbidden.json()["error"]
    assert _alerts(db) == []
    sent = _post(client, accounts, "flood", Role.ADMIN, over_limit=True)
    assert sent.status_code == 201, sent.text
    assert sent.json()["over_limit"] is True
    with db.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "alert.send")).one()
        assert (entry.actor, entry.detail["over_limit"]) == ("Admin", True)


def test_openapi_documents_both_routes() -> None:
    """The OpenAPI document has the check and the send, with their bodies."""
    paths = openapi_document()["paths"]
    route = paths["/api/briefings/{slug}/alert"]
    assert {"get", "post"} <= set(route)
    assert "AlertIn" in json.dumps(route["post"]["requestBody"])
    assert "AlertOut" in json.dumps(route["post"]["responses"]["201"])
