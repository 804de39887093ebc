"""Named slots in the back office: the preview (and its test copy) and the API's send-now
choose a slot's daily edition; a slot the publication does not have is refused naming
``slot``, and nothing changes."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from newsletter.backoffice.preview_slots import next_daily
from newsletter.content.slots import SlotSpec
from newsletter.db import Database, utcnow
from newsletter.digests.models import Digest
from newsletter.digests.services import assemble_digest, render_digest
from newsletter.editors.models import AuditEntry, Role
from newsletter.providers.memory import MemorySender
from newsletter.publications.services import get_publication
from newsletter.schedules import slots
from newsletter.schedules.models import ScheduledEdition
from tests.factories import make_briefing, make_publication
from tests.unit.newsletter.backoffice.conftest import Accounts

SignIn = Callable[[Role], str]
EVERY_DAY = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})


def _with_slots(db: Database) -> None:
    """The publication "morning" with two named slots, every day, and one approved story."""
    with db.session() as session:
        make_publication(session, weekdays=sorted(EVERY_DAY))
        slots.add_slot(session, "morning", SlotSpec("early", time(6, 0), EVERY_DAY, 0))
        slots.add_slot(session, "morning", SlotSpec("evening", time(19, 30), EVERY_DAY, 0))
        make_briefing(session, slug="story", approved_at=utcnow() - timedelta(hours=1))


def _freeze_evening(db: Database) -> str:
    """Assemble and render the evening slot's next edition (as the scheduler would)."""
    with db.session() as session:
        publication = get_publication(session, "morning")
        target = next_daily(session, publication, "evening", utcnow())
        digest = assemble_digest(
            session, publication, target.edition_date, slot="evening", cutoff=target.cutoff
        ).digest
        render_digest(session, digest.id)
        return target.edition_date.isoformat()


def test_preview_of_a_slot_shows_that_slots_edition(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """``slot=evening`` previews the evening edition (its own stored digest, its time);
    without it the soonest slot's."""
    _with_slots(db)
    _freeze_evening(db)
    signed_in(Role.EDITOR)
    evening = client.get("/editor/preview?publication=morning&slot=evening")
    assert evening.status_code == 200
    assert re.search(r"<h1>Next edition: [^<]* \(evening\), ", evening.text)
    assert '<option value="evening" selected>evening</option>' in evening.text
    assert '<option value="early">early</option>' in evening.text
    assert "Frozen (rendered)" in evening.text
    assert re.search(r"<strong><time[^>]*>19:30 ", evening.text)
    assert "the evening slot’s edition" in evening.text
    # Without a slot: the soonest of the slots' editions (they give the daily editions).
    with db.session() as session:
        zone = ZoneInfo(get_publication(session, "morning").timezone)
    local = utcnow().astimezone(zone).time()
    soonest, at = ("evening", "19:30") if time(6) <= local < time(19, 30) else ("early", "06:00")
    default = client.get("/editor/preview?publication=morning")
    assert default.status_code == 200
    assert f'<option value="{soonest}" selected>{soonest}</option>' in default.text
    assert f"the {soonest} slot’s edition" in default.text
    assert re.search(rf"<strong><time[^>]*>{at} ", default.text)
    with db.session() as session:
        assert [d.slot for d in session.query(Digest)] == ["evening"]  # the preview froze none


def test_unknown_slot_is_refused_naming_the_field(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A slot the publication lacks: 400, the field marked, nothing previewed or stored."""
    _with_slots(db)
    signed_in(Role.EDITOR)
    page = client.get("/editor/preview?publication=morning&slot=%3Cb%3Enoon")
    assert page.status_code == 400
    assert "Nothing was previewed." in page.text
    assert 'id="slot" name="slot" aria-invalid="true"' in page.text
    assert "slot: morning has no slot &#39;&lt;b&gt;noon&#39; (its slots: early, evening)" in (
        page.text
    )
    assert "<b>noon" not in page.text
    with db.session() as session:
        assert session.query(Digest).count() == 0


def test_test_copy_of_a_slots_edition(
    client: TestClient, db: Database, signed_in: SignIn, mailbox: MemorySender
) -> None:
    """The test copy goes out from the slot's edition; the audit names the slot; back to
    the same preview. An unknown slot sends nothing."""
    _with_slots(db)
    day = _freeze_evening(db)
    token = signed_in(Role.PUBLISHER)
    page = client.get("/editor/preview?publication=morning&slot=evening").text
    assert '<input type="hidden" name="slot" value="evening">' in page
    form = {"csrf_token": token, "publication": "morning", "to": "desk@example.org"}
    refused = client.post("/editor/preview/test-send", data={**form, "slot": "noon"})
    assert refused.status_code == 400
    assert mailbox.sent == []
    sent = client.post("/editor/preview/test-send", data={**form, "slot": "evening"})
    assert sent.headers["location"] == (
        "/editor/preview?publication=morning&slot=evening&done=test-sent"
    )
    assert [m.to for m in mailbox.sent] == ["desk@example.org"]
    with db.session() as session:
        (audit,) = session.query(AuditEntry).filter_by(action="edition.test_send")
        assert audit.target == f"morning {day} (evening)"


def test_send_now_of_a_slot_over_the_api(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """``{"slot": "evening"}`` starts the evening edition now; an unknown slot is a 422
    naming ``slot`` and adds nothing; without a body it is the main schedule's, as before."""
    _with_slots(db)
    path = "/api/publications/morning/send-now"
    publisher = accounts.bearer(Role.PUBLISHER)
    unknown = client.post(path, headers=publisher, json={"slot": "noon"})
    assert unknown.status_code == 422
    assert unknown.json()["fields"] == [
        {"field": "slot", "message": "morning has no slot 'noon' (its slots: early, evening)"}
    ]
    assert unknown.json()["error"].startswith("slot: ")
    with db.session() as session:
        assert session.query(ScheduledEdition).count() == 0
    evening = client.post(path, headers=publisher, json={"slot": "evening"})
    assert evening.status_code == 201
    assert (evening.json()["slot"], evening.json()["kind"]) == ("evening", "now")
    again = client.post(path, headers=publisher, json={"slot": "evening"})
    assert again.status_code == 409
    main = client.post(path, headers=publisher)
    assert main.status_code == 201
    assert main.json()["slot"] == ""
    ghost = client.post("/api/publications/ghost/send-now", headers=publisher, json={"slot": "x"})
    assert ghost.status_code == 404


def test_send_now_slot_on_a_publication_without_slots(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """A publication without named slots refuses any slot (422), saying it has none."""
    with db.session() as session:
        make_publication(session)
    answer = client.post(
        "/api/publications/morning/send-now",
        headers=accounts.bearer(Role.PUBLISHER),
        json={"slot": "evening"},
    )
    assert answer.status_code == 422
    assert "(its slots: none)" in answer.json()["error"]
