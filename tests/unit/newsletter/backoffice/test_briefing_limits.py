"""The briefing limits hold on the API (POST and PUT) and the editor's form, as on files."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from newsletter.briefings import services as briefings
from newsletter.db import Database
from newsletter.editors.models import Role
from tests.factories import make_briefing
from tests.unit.newsletter.backoffice.conftest import Accounts
from tests.unit.newsletter.backoffice.test_briefing_edit import URL, _form

LONG = "Word " * 5000 + "end."  # 25,004 bytes: over the 20,000-byte paragraph default
SETTING = "(NEWSLETTER_MAX_PARAGRAPH_BYTES)"


def _revisions(db: Database) -> int:
    with db.session() as session:
        return briefings.get_briefing(session, "rail-strike").latest_revision


def test_the_api_refuses_a_long_paragraph_on_post_and_put(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """422 naming the JSON path (or line) and the setting; nothing stored or revised."""
    with db.session() as session:
        make_briefing(session, slug="rail-strike", title="Rail strike ends")
    editor = accounts.bearer(Role.EDITOR)
    created = client.post(
        "/api/briefings", json={"title": "Too long", "lede": [LONG]}, headers=editor
    )
    assert created.status_code == 422
    assert created.json()["error"] == (
        f"body: $.lede[0]: the paragraph has 25,004 bytes; at most 20,000 {SETTING}"
    )
    text = f"What's happened\n{LONG}\n"
    put = client.put(
        "/api/briefings/rail-strike",
        content=text,
        headers={**editor, "content-type": "text/plain"},
    )
    assert put.status_code == 422
    assert put.json()["error"].startswith("body:2: lede[0]: the paragraph has 25,004 bytes")
    assert _revisions(db) == 1
    with db.session() as session:
        assert len(briefings.list_briefings(session)) == 1


def test_the_editor_form_names_the_field_and_saves_nothing(
    client: TestClient, db: Database, signed_in: Callable[[Role], str]
) -> None:
    """The form shows the problem beside "What's happened"; the revision count stays."""
    with db.session() as session:
        make_briefing(session, slug="rail-strike", title="Rail strike ends")
    signed_in(Role.EDITOR)
    response = client.post(URL + "/edit", data={**_form(client), "lede": LONG, "do": "save"})
    assert response.status_code == 422
    assert "paragraph 1: the paragraph has 25,004 bytes; at most 20,000" in response.text
    assert SETTING in response.text
    assert _revisions(db) == 1
