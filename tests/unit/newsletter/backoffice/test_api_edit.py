"""The API's PUT /api/briefings/{slug}: editing a briefing as JSON or plain text."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from newsletter.backoffice.api import openapi_document
from newsletter.briefings import services as briefings
from newsletter.db import Database
from newsletter.editors.models import Role
from tests.factories import make_briefing
from tests.unit.newsletter.backoffice.conftest import Accounts

URL = "/api/briefings/rail-strike"
BODY = {"title": "Rail strike called off", "lede": ["Unions called off Monday's strike."]}
TEXT = "Title: Rail strike called off\n\nWhat's happened\nUnions called off Monday's strike.\n"


def _briefing(db: Database) -> None:
    with db.session() as session:
        make_briefing(session, slug="rail-strike", title="Rail strike ends")


def _put(
    client: TestClient,
    accounts: Accounts,
    body: object,
    *,
    kind: str = "application/json",
    role: Role = Role.EDITOR,
    url: str = URL,
) -> object:
    content = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.put(url, content=content, headers={**accounts.bearer(role), "content-type": kind})


def _latest(db: Database) -> tuple[int, str, str]:
    with db.session() as session:
        briefing = briefings.get_briefing(session, "rail-strike")
        events = briefings.history(session, briefing)
        author = events[-1].editor if events else ""
        return briefing.latest_revision, briefings.revision(session, briefing).title, author


def test_put_json_adds_a_revision_by_the_token_s_editor(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """The JSON import form, without a slug, revises the briefing in the path."""
    _briefing(db)
    response = _put(client, accounts, BODY)
    assert response.status_code == 200, response.text
    assert response.json()["action"] == "revised"
    assert response.json()["revision"] == 2
    assert response.json()["state"] == "draft"
    assert _latest(db) == (2, "Rail strike called off", "Editor")
    again = _put(client, accounts, {**BODY, "slug": "rail-strike"})
    assert again.json()["action"] == "unchanged"
    assert _latest(db)[0] == 2


def test_put_text_adds_a_revision(client: TestClient, db: Database, accounts: Accounts) -> None:
    """The plain-text format works too; its derived slug does not matter."""
    _briefing(db)
    response = _put(client, accounts, TEXT, kind="text/plain; charset=utf-8")
    assert response.status_code == 200, response.text
    assert _latest(db) == (2, "Rail strike called off", "Editor")


def test_put_cannot_change_the_slug(client: TestClient, db: Database, accounts: Accounts) -> None:
    """A slug in the body other than the path's is refused, in both forms; nothing changes."""
    _briefing(db)
    response = _put(client, accounts, {**BODY, "slug": "other"})
    assert response.status_code == 422
    assert response.json()["error"].startswith("body: $.slug: is 'other', but this is")
    response = _put(client, accounts, "Slug: other\n" + TEXT, kind="text/plain")
    assert response.status_code == 422
    assert "header “Slug” is 'other'" in response.json()["error"]
    assert _latest(db)[0] == 1


@pytest.mark.parametrize(
    ("body", "kind", "expected"),
    [
        ({"lede": []}, "application/json", "body: $.lede: "),
        ('{"lede": ["a."], "lede": ["b."]}', "application/json", "appears twice"),
        ("{not json", "application/json", "body: $: invalid JSON at line 1"),
        ({**BODY, "url": "javascript:x"}, "application/json", "body: $.url: "),
        ("What's happened\nFine.\nGo deeper\nNo bullet here?\n", "text/plain", "body:4: "),
        (b"What's happened\n\xff\n", "text/plain", "body: not UTF-8 text"),
        ("", "text/plain", "body:1: the file is empty"),
    ],
)
def test_put_refuses_what_an_import_refuses(
    client: TestClient, db: Database, accounts: Accounts, body: object, kind: str, expected: str
) -> None:
    """The import's checks apply; the 422 names the JSON path or line; nothing is saved."""
    _briefing(db)
    response = _put(client, accounts, body, kind=kind)
    assert response.status_code == 422
    assert expected in response.json()["error"]
    assert _latest(db)[0] == 1


def test_put_other_media_types_and_unknown_slugs(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """Form posts are 415; an unknown slug is 404 (PUT does not create); no token is 401."""
    _briefing(db)
    assert (
        _put(client, accounts, "a=b", kind="application/x-www-form-urlencoded").status_code == 415
    )
    response = _put(client, accounts, BODY, url="/api/briefings/nope")
    assert response.status_code == 404
    assert client.put(URL, json=BODY).status_code == 401
    assert _put(client, accounts, BODY, url="/api/briefings/Bad_Slug").status_code == 422
    assert _latest(db)[0] == 1


def test_put_with_a_stale_revision_is_a_conflict(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """``?revision=`` guards against overwriting a revision added meanwhile."""
    _briefing(db)
    assert _put(client, accounts, BODY, url=URL + "?revision=1").status_code == 200
    response = _put(client, accounts, {**BODY, "title": "Mine"}, url=URL + "?revision=1")
    assert response.status_code == 409
    assert response.json()["error"].startswith("revision: 1 is not the latest; revision 2")
    assert _latest(db)[:2] == (2, "Rail strike called off")


def test_put_is_in_the_openapi_document() -> None:
    """The OpenAPI document declares the PUT with both body forms and its answers."""
    operation = openapi_document()["paths"]["/api/briefings/{slug}"]["put"]
    body = operation["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/Briefing"}
    assert body["text/plain"]["schema"]["type"] == "string"
    assert {"200", "404", "409", "415", "422"} <= set(operation["responses"])
    assert operation["parameters"][-1]["name"] == "revision"
