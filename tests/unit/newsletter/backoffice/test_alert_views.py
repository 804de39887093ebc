"""The "Send as alert" screen: the count and the day's limit, a ticked confirmation, the
admin-only override, refusals shown with nothing sent, and the role it needs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.briefings.models import BriefingState
from newsletter.db import Database
from newsletter.digests.models import Digest
from newsletter.editors.models import AuditEntry, Role
from newsletter.publications.services import get_publication
from newsletter.runtime import Runtime
from tests.factories import make_briefing
from tests.unit.newsletter.pipeline import alert_seed
from tests.unit.newsletter.schedules import seed

SignIn = Callable[[Role], str]
PAGE = "/editor/briefings/flood/alert"


@pytest.fixture
def planned(app: FastAPI, db: Database) -> list[int]:
    """Publication "morning", briefing "flood" (Climate) and a draft, five alert readers on
    Climate and two digest-only readers; the digests a worker was asked to plan."""
    with db.session() as session:
        pub = seed.publication(session, briefings=0)
        make_briefing(session, slug="flood", title="Flood <warning>", topics=["Climate"])
        make_briefing(session, slug="draft", state=BriefingState.DRAFT)
        alert_seed.alert_readers(session, pub, 5, topics=["climate"])
        seed.readers(session, pub, 2, start=100)
    asked: list[int] = []

    def request_plan(rt: Runtime, digest_id: int) -> bool:
        asked.append(digest_id)
        return True

    app.state.request_plan = request_plan
    return asked


def _alerts(db: Database) -> int:
    with db.session() as session:
        return len(session.scalars(select(Digest.id).where(Digest.cadence == "alert")).all())


def test_count_confirm_send(
    client: TestClient, db: Database, signed_in: SignIn, planned: list[int]
) -> None:
    """The briefing page links the action; the page counts the readers (escaped headline);
    without the tick nothing is sent; with it the alert starts and a worker is asked."""
    token = signed_in(Role.PUBLISHER)
    assert f'href="{PAGE}"' in client.get("/editor/briefings/flood").text
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "Flood &lt;warning&gt;" in page.text
    assert '<dd id="alert-readers"><strong>5</strong> readers' in page.text
    assert "0 of 3 alerts a day sent" in page.text
    unticked = client.post(PAGE, data={"csrf_token": token, "publication": "morning"})
    assert unticked.status_code == 422
    assert "tick the box" in unticked.text
    assert (_alerts(db), planned) == (0, [])
    sent = client.post(PAGE, data={"csrf_token": token, "publication": "morning", "confirm": "yes"})
    assert sent.status_code == 303
    assert sent.headers["location"] == "/editor/briefings/flood?done=alert-sent"
    assert _alerts(db) == 1
    assert len(planned) == 1
    briefing_page = client.get("/editor/briefings/flood").text
    assert "Sent as an alert in The Morning Test" in briefing_page
    assert f'href="/editor/editions/{planned[0]}">its report</a>' in briefing_page
    assert "/p/morning/alerts/" in briefing_page
    again = client.get(PAGE)
    assert again.status_code == 409
    assert "already sent as an alert" in again.text
    assert 'name="confirm"' not in again.text


def test_over_the_limit_only_an_admin_may(
    client: TestClient, db: Database, signed_in: SignIn, planned: list[int]
) -> None:
    """Past the limit a publisher is told only an admin may (no button, a forced post is
    refused); an admin sees and must tick the override; it is audited."""
    with db.session() as session:
        get_publication(session, "morning").alerts_per_day = 0
    token = signed_in(Role.PUBLISHER)
    page = client.get(PAGE).text
    assert "Only an admin may send another today." in page
    assert 'name="confirm"' not in page
    forced = {"csrf_token": token, "publication": "morning", "confirm": "yes", "over_limit": "yes"}
    refused = client.post(PAGE, data=forced)
    assert refused.status_code == 409
    assert "only an admin may go past it" in refused.text
    assert _alerts(db) == 0
    client.cookies.clear()
    token = signed_in(Role.ADMIN)
    page = client.get(PAGE).text
    assert 'name="over_limit"' in page
    no_override = {"csrf_token": token, "publication": "morning", "confirm": "yes"}
    assert client.post(PAGE, data=no_override).status_code == 409
    sent = client.post(PAGE, data={**no_override, "over_limit": "yes"})
    assert sent.status_code == 303
    with db.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "alert.send")).one()
        assert entry.detail["over_limit"] is True


def test_refusals_and_roles(
    client: TestClient, db: Database, signed_in: SignIn, planned: list[int]
) -> None:
    """A draft shows why and no form; an editor (not a publisher) may not see the page or
    post it, and the briefing page offers no alert to them."""
    signed_in(Role.PUBLISHER)
    draft = client.get("/editor/briefings/draft/alert")
    assert draft.status_code == 409
    assert "only an approved briefing" in draft.text
    assert 'name="confirm"' not in draft.text
    assert "/alert" not in client.get("/editor/briefings/draft").text
    client.cookies.clear()
    token = signed_in(Role.EDITOR)
    assert client.get(PAGE).status_code == 403
    assert "Send as alert" not in client.get("/editor/briefings/flood").text
    post = {"csrf_token": token, "publication": "morning", "confirm": "yes"}
    assert client.post(PAGE, data=post).status_code == 403
    assert (_alerts(db), planned) == (0, [])


def test_with_several_publications_the_editor_picks_one(
    client: TestClient, db: Database, signed_in: SignIn, planned: list[int]
) -> None:
    """Two publications: the page asks which (with each one's alerts today) before counting."""
    with db.session() as session:
        seed.publication(session, slug="evening", briefings=0)
    signed_in(Role.PUBLISHER)
    page = client.get(PAGE).text
    assert '<select id="alert-publication" name="publication">' in page
    assert "(0 alerts today)" in page
    assert 'id="alert-readers"' not in page
    chosen = client.get(PAGE + "?publication=morning").text
    assert '<dd id="alert-readers"><strong>5</strong> readers' in chosen
    empty = client.get(PAGE + "?publication=evening")
    assert empty.status_code == 409  # no alert readers: a conflict with the state
    assert "evening has no readers who opted into alerts on Climate" in empty.text
