"""Named slots in the back office and the API: added, shown, refused with the field named,
removed, each audited; editors may read but not change them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from newsletter.content.slots import SlotSpec
from newsletter.db import Database
from newsletter.digests.services import assemble_digest
from newsletter.editors.models import AuditEntry, Role
from newsletter.publications.services import get_publication
from newsletter.schedules import slots
from newsletter.schedules.models import ScheduleSlot
from tests.factories import make_briefing, make_publication
from tests.unit.newsletter.backoffice.conftest import Accounts

SignIn = Callable[[Role], str]
WEEK = ["mon", "tue", "wed", "thu", "fri"]


def _slots(db: Database) -> list[tuple[str, str, int]]:
    with db.session() as session:
        return [
            (row.name, row.send_time.strftime("%H:%M"), row.cutoff_minutes)
            for row in session.query(ScheduleSlot).order_by(ScheduleSlot.send_time)
        ]


def _actions(db: Database) -> list[str]:
    with db.session() as session:
        return [e.action for e in session.query(AuditEntry).order_by(AuditEntry.id)]


def test_publisher_adds_and_removes_slots_on_the_schedule_page(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    with db.session() as session:
        make_publication(session)
    token = signed_in(Role.PUBLISHER)
    form = {"csrf_token": token, "weekdays": WEEK}
    for name, at, cutoff in (("morning", "07:00", "30"), ("evening", "18:00", "60")):
        added = client.post(
            "/editor/schedules/morning/slots",
            data={**form, "name": name, "send_time": at, "cutoff_minutes": cutoff},
        )
        assert added.status_code == 303, added.text
    page = client.get("/editor/schedules?publication=morning").text
    assert "morning: mon, tue, wed, thu, fri at 07:00" in page
    assert "/editor/schedules/morning/slots/evening/remove" in page
    clash = client.post(
        "/editor/schedules/morning/slots",
        data={**form, "name": "breakfast", "send_time": "06:45", "cutoff_minutes": "0"},
    )
    assert clash.status_code == 400
    assert "Slot not added: send_time: &#39;breakfast&#39;" in clash.text
    assert "overlaps the cut-off window of &#39;morning&#39;" in clash.text
    bad_name = client.post(
        "/editor/schedules/morning/slots",
        data={**form, "name": "Noon!", "send_time": "12:00", "cutoff_minutes": "0"},
    )
    assert bad_name.status_code == 400
    assert "name: &#39;Noon!&#39; is not a slot name" in bad_name.text
    bad_cutoff = client.post(
        "/editor/schedules/morning/slots",
        data={**form, "name": "noon", "send_time": "12:00", "cutoff_minutes": "soon"},
    )
    assert "cutoff_minutes: &#39;soon&#39; is not a number of minutes" in bad_cutoff.text
    assert _slots(db) == [("morning", "07:00", 30), ("evening", "18:00", 60)]
    removed = client.post(
        "/editor/schedules/morning/slots/evening/remove", data={"csrf_token": token}
    )
    assert removed.status_code == 303
    assert _slots(db) == [("morning", "07:00", 30)]
    assert _actions(db)[-3:] == ["schedule.slot_add", "schedule.slot_add", "schedule.slot_remove"]


def test_editors_cannot_add_slots(client: TestClient, db: Database, signed_in: SignIn) -> None:
    with db.session() as session:
        make_publication(session)
    token = signed_in(Role.EDITOR)
    response = client.post(
        "/editor/schedules/morning/slots",
        data={"csrf_token": token, "name": "noon", "send_time": "12:00", "weekdays": WEEK},
    )
    assert response.status_code == 403
    assert _slots(db) == []


def test_api_adds_lists_refuses_and_removes_slots(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    headers = accounts.bearer(Role.PUBLISHER)
    with db.session() as session:
        make_publication(session)
    body = {"name": "evening", "send_time": "18:00", "weekdays": WEEK, "cutoff_minutes": 30}
    added = client.post("/api/publications/morning/slots", json=body, headers=headers)
    assert added.status_code == 201, added.text
    assert added.json()["slots"] == [
        {"name": "evening", "send_time": "18:00", "weekdays": WEEK, "cutoff_minutes": 30}
    ]
    again = client.post("/api/publications/morning/slots", json=body, headers=headers)
    assert again.status_code == 409
    assert again.json()["error"].startswith("name: morning already has a slot 'evening'")
    same_time = client.post(
        "/api/publications/morning/slots", json={**body, "name": "late"}, headers=headers
    )
    assert same_time.status_code == 409
    assert same_time.json()["error"].startswith("send_time: 'late'")
    upcoming = client.get(
        "/api/publications/morning/schedule", headers=accounts.bearer(Role.EDITOR)
    ).json()
    assert [slot["name"] for slot in upcoming["slots"]] == ["evening"]
    unknown = client.delete("/api/publications/morning/slots/noon", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"].startswith("name: morning has no slot 'noon'")
    gone = client.delete("/api/publications/morning/slots/evening", headers=headers)
    assert gone.status_code == 200
    assert gone.json()["slots"] == []
    assert _slots(db) == []


def test_editions_list_report_and_api_name_the_slot(
    client: TestClient, db: Database, accounts: Accounts, signed_in: SignIn
) -> None:
    """The back office editions list, an edition's report page and the API rows say which
    slot an edition is."""
    when = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)
    with db.session() as session:
        make_publication(session)
        make_briefing(session, slug="dusk-news", approved_at=when - timedelta(hours=2))
        publication = get_publication(session, "morning")
        spec = SlotSpec("evening", when.time(), frozenset(WEEK), 0)
        slots.add_slot(session, "morning", spec, now=when - timedelta(days=1))
        digest_id = assemble_digest(
            session, publication, when.date(), now=when, cutoff=when, slot="evening"
        ).digest.id
    headers = accounts.bearer(Role.EDITOR)
    rows = client.get("/api/publications/morning/digests", headers=headers).json()
    assert [(row["id"], row["slot"]) for row in rows] == [(digest_id, "evening")]
    report = client.get(f"/api/digests/{digest_id}/report", headers=headers).json()
    assert report["slot"] == "evening"
    signed_in(Role.EDITOR)
    listing = client.get("/editor/editions?publication=morning").text
    assert '<span class="chip">evening</span>' in listing
    page = client.get(f"/editor/editions/{digest_id}").text
    assert "2026-03-04 (evening)</h1>" in page
