"""The OpenAPI document served names this deployment's publications, lists and topics."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from newsletter.db import Database
from tests.factories import make_publication


def test_document_served_lists_what_exists(client: TestClient, db: Database) -> None:
    empty = client.get("/api/openapi.json").json()
    assert "oneOf" not in empty["components"]["schemas"]["SubscribeIn"]  # nothing exists yet

    with db.session() as session:
        make_publication(session, topics=["Politics", "Sport"], weekly_days=["sat"])
        make_publication(session, slug="evening", name="Evening", topics=[])
    document = client.get("/api/openapi.json").json()

    def slug_of(path: str, method: str) -> Any:
        (parameter,) = [
            p for p in document["paths"][path][method]["parameters"] if p["in"] == "path"
        ]
        return parameter["schema"]["enum"]

    assert slug_of("/api/publications/{slug}", "patch") == ["evening", "morning"]
    assert slug_of("/api/lists/{slug}/opt-in", "put") == ["evening", "morning"]
    schemas = document["components"]["schemas"]
    assert schemas["MailingListIn"]["properties"]["publication"]["enum"] == ["evening", "morning"]
    branches = {b["properties"]["list"]["const"]: b for b in schemas["SubscribeIn"]["oneOf"]}
    morning, evening = branches["morning"], branches["evening"]
    assert morning["properties"]["topics"]["items"] == {"enum": ["Politics", "Sport"]}
    assert evening["properties"]["topics"]["items"] == {"not": {}}  # no topics to choose
    weekly = [r for r in morning["anyOf"] if r["properties"]["cadence"].get("const") == "weekly"]
    assert weekly[0]["properties"]["weekly_day"] == {"enum": ["sat"]}
    assert len(evening["anyOf"]) == 1  # daily only: no weekly roundup offered


def test_a_sign_up_the_document_allows_is_accepted(client: TestClient, db: Database) -> None:
    with db.session() as session:
        make_publication(session, topics=["Politics"], weekly_days=["sat"])
    body = {
        "email": "reader@example.org",
        "list": "morning",
        "topics": ["Politics"],
        "cadence": "weekly",
        "weekly_day": "sat",
        "locale": "pt-BR",
        "timezone": "Europe/Lisbon",
    }
    answer = client.post("/api/subscribe", json=body)
    assert answer.status_code == 202, answer.text
