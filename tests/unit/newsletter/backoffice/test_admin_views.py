"""Schedule and account pages: reading, changing, and role limits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from newsletter.backoffice.forms import check_zone, parse_days, parse_local, parse_time
from newsletter.db import Database, utcnow
from newsletter.digests.models import Digest, DigestState
from newsletter.editors import services
from newsletter.editors.models import AuditEntry, Role
from newsletter.errors import InvalidInputError
from newsletter.publications.models import Publication
from newsletter.schedules.models import EditionKind, EditionState, ScheduledEdition
from tests.factories import make_publication

SignIn = Callable[[Role], str]


def _publication(db: Database) -> None:
    with db.session() as session:
        make_publication(session)


def test_editors_read_schedules_but_cannot_change_them(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The schedule page is readable by editors; their changes are 403 and change nothing."""
    _publication(db)
    token = signed_in(Role.EDITOR)
    page = client.get("/editor/schedules").text
    assert "mon, tue, wed, thu, fri at 07:00 (UTC)" in page
    assert "needs the publisher role" in page
    response = client.post(
        "/editor/schedules/morning",
        data={"csrf_token": token, "send_time": "05:00", "timezone": "UTC", "weekdays": ["mon"]},
    )
    assert response.status_code == 403
    with db.session() as session:
        assert session.query(Publication).one().send_time.hour == 7


def test_publisher_changes_the_schedule(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A publisher sets time, zone and days, adds and cancels a one-off, pauses and resumes."""
    _publication(db)
    token = signed_in(Role.PUBLISHER)
    saved = client.post(
        "/editor/schedules/morning",
        data={
            "csrf_token": token,
            "send_time": "06:15",
            "timezone": "Europe/Paris",
            "weekdays": ["sat", "sun"],
        },
    )
    assert saved.headers["location"].endswith("done=scheduled")
    assert (
        "sat, sun at 06:15 (Europe/Paris)"
        in client.get("/editor/schedules?publication=morning").text
    )
    bad = client.post(
        "/editor/schedules/morning",
        data={"csrf_token": token, "send_time": "25:00", "timezone": "UTC", "weekdays": ["mon"]},
    )
    assert bad.status_code == 400
    assert "Schedule not saved: Time: &#39;25:00&#39; is not a time of day" in bad.text
    assert 'value="25:00"' in bad.text  # the form keeps what was typed
    when = (utcnow() + timedelta(days=5)).strftime("%Y-%m-%dT08:00")
    assert (
        client.post(
            "/editor/schedules/morning/once", data={"csrf_token": token, "at": when}
        ).status_code
        == 303
    )
    page = client.get("/editor/schedules").text
    assert "scheduled" in page
    assert "/editor/scheduled/1/cancel" in page
    assert client.post("/editor/scheduled/1/cancel", data={"csrf_token": token}).status_code == 303
    assert (
        client.post("/editor/schedules/morning/pause", data={"csrf_token": token, "paused": "yes"})
        .headers["location"]
        .endswith("paused")
    )
    assert "Resume sending" in client.get("/editor/schedules").text
    client.post("/editor/schedules/morning/pause", data={"csrf_token": token, "paused": "no"})
    with db.session() as session:
        actions = [e.action for e in session.query(AuditEntry).order_by(AuditEntry.id)]
    assert actions[-5:] == [
        "schedule.set",
        "schedule.once",
        "schedule.cancel",
        "schedule.pause",
        "schedule.resume",
    ]


def test_admin_adds_and_disables_accounts(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Admins add accounts and disable others, never themselves; publishers cannot."""
    token = signed_in(Role.PUBLISHER)
    data = {
        "csrf_token": token,
        "name": "Nia",
        "email": "nia@example.org",
        "role": "editor",
        "password": "n" * 12,
    }
    assert client.post("/editor/accounts", data=data).status_code == 403
    token = signed_in(Role.ADMIN)
    assert client.post("/editor/accounts", data={**data, "csrf_token": token}).status_code == 303
    page = client.get("/editor/accounts").text
    assert "Nia" in page
    assert "editor.add" in page
    assert (
        client.post(
            "/editor/accounts/Nia/disable", data={"csrf_token": token, "disabled": "yes"}
        ).status_code
        == 303
    )
    assert (
        client.post(
            "/editor/accounts/Admin/disable", data={"csrf_token": token, "disabled": "yes"}
        ).status_code
        == 400
    )
    client.post("/editor/accounts/Nia/disable", data={"csrf_token": token, "disabled": "no"})
    with db.session() as session:
        assert services.get_editor(session, "Nia").disabled is False
        assert services.get_editor(session, "Admin").disabled is False


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_time("7am"), "send_time"),
        (lambda: parse_local("tomorrow"), "at"),
        (lambda: parse_local("2030-02-30 07:00"), "at"),
        (lambda: parse_days([]), "at least one"),
        (lambda: parse_days(["mon", "funday"]), "funday"),
        (lambda: check_zone("Mars/Olympus"), "timezone"),
    ],
)
def test_form_values_are_checked_with_the_field_named(
    call: Callable[[], object], message: str
) -> None:
    """Bad times, dates, days and zones are refused naming the field."""
    with pytest.raises(InvalidInputError, match=message):
        call()


def test_form_values_parse() -> None:
    """Good values parse to times, local date-times and day sets."""
    assert parse_time("06:05").minute == 5
    assert parse_local("2030-01-31T07:00").day == 31
    assert parse_days(["Mon", " fri "]) == frozenset({"mon", "fri"})
    assert check_zone(" Europe/London ") == "Europe/London"


def _send_now_audits(db: Database) -> list[AuditEntry]:
    with db.session() as session:
        return list(session.query(AuditEntry).filter_by(action="edition.send_now"))


def test_publisher_sends_todays_edition_now(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Send-now records today's edition due at once, lists it, audits it, and refuses a second."""
    _publication(db)
    token = signed_in(Role.PUBLISHER)
    page = client.get("/editor/schedules").text
    assert "Send today’s edition now" in page
    assert 'name="confirm" value="yes" required' in page
    sent = client.post(
        "/editor/schedules/morning/send-now", data={"csrf_token": token, "confirm": "yes"}
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == "/editor/schedules?publication=morning&done=sending"
    with db.session() as session:
        edition = session.query(ScheduledEdition).one()
        assert edition.kind is EditionKind.NOW
        assert edition.state is EditionState.SCHEDULED
        assert edition.due_at <= utcnow()
        today = edition.edition_date.isoformat()
    listed = client.get(sent.headers["location"]).text
    assert "queued to go out now" in listed
    assert f"<td>{today}</td>" in listed
    assert "<td>now</td>" in listed
    [entry] = _send_now_audits(db)
    assert (entry.actor, entry.target) == ("Publisher", f"edition 1 (morning {today})")

    again = client.post(
        "/editor/schedules/morning/send-now", data={"csrf_token": token, "confirm": "yes"}
    )
    assert again.status_code == 409
    assert 'role="alert">Nothing was sent: morning ' in again.text
    assert "is already scheduled" in again.text
    with db.session() as session:
        assert session.query(ScheduledEdition).count() == 1
    assert len(_send_now_audits(db)) == 1


def test_send_now_needs_confirmation_csrf_and_the_publisher_role(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Without the confirmation box, a CSRF token or the publisher role nothing is scheduled."""
    _publication(db)
    token = signed_in(Role.PUBLISHER)
    unconfirmed = client.post("/editor/schedules/morning/send-now", data={"csrf_token": token})
    assert unconfirmed.status_code == 400
    assert "tick the box to confirm" in unconfirmed.text
    assert (
        client.post("/editor/schedules/morning/send-now", data={"confirm": "yes"}).status_code
        == 403
    )
    assert (
        client.post(
            "/editor/schedules/ghost/send-now", data={"csrf_token": token, "confirm": "yes"}
        ).status_code
        == 404
    )
    token = signed_in(Role.EDITOR)
    assert "Send today’s edition now" not in client.get("/editor/schedules").text
    refused = client.post(
        "/editor/schedules/morning/send-now", data={"csrf_token": token, "confirm": "yes"}
    )
    assert refused.status_code == 403
    with db.session() as session:
        assert session.query(ScheduledEdition).count() == 0
    assert _send_now_audits(db) == []


def test_a_refused_one_off_stays_in_the_form_in_the_apps_words(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A one-off in the past is refused on the page, naming the field as the form does."""
    _publication(db)
    token = signed_in(Role.PUBLISHER)
    past = (utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT08:00")
    refused = client.post("/editor/schedules/morning/once", data={"csrf_token": token, "at": past})
    assert refused.status_code == 400
    assert "One-off edition not added: Date and time: " in refused.text
    assert "is in the past" in refused.text
    assert "--at" not in refused.text
    assert f'value="{past}"' in refused.text
    nonsense = client.post(
        "/editor/schedules/morning/once", data={"csrf_token": token, "at": "soon"}
    )
    assert nonsense.status_code == 400
    assert "Date and time: &#39;soon&#39; is not a local date and time" in nonsense.text
    with db.session() as session:
        assert session.query(ScheduledEdition).count() == 0


def test_next_lists_one_offs_in_place_of_the_recurring_edition(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    with db.session() as session:
        make_publication(session, weekdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
    token = signed_in(Role.PUBLISHER)
    day = (utcnow() + timedelta(days=2)).date()
    at = f"{day.isoformat()}T09:30"
    assert (
        client.post(
            "/editor/schedules/morning/once", data={"csrf_token": token, "at": at}
        ).status_code
        == 303
    )
    page = client.get("/editor/schedules").text
    nxt = page[page.index("<dt>Next</dt>") : page.index("</dd>", page.index("<dt>Next</dt>"))]
    assert f"{day.isoformat()} 09:30 UTC (one-off)" in nxt
    assert f"{day.isoformat()} 07:00" not in nxt  # the one-off takes that date's place
    assert f"{(day + timedelta(days=1)).isoformat()} 07:00" in nxt


def test_cancel_and_send_now_are_offered_only_when_they_can_succeed(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A sent edition has no Cancel button; once today's edition is on record, no send-now."""
    _publication(db)
    with db.session() as session:
        publication = session.query(Publication).one()
        today = utcnow().date()
        digest = Digest(
            publication=publication,
            edition_date=today - timedelta(days=1),
            cutoff_at=utcnow(),
            state=DigestState.SENT,
        )
        session.add(digest)
        session.flush()
        session.add_all(
            [
                ScheduledEdition(
                    publication=publication,
                    edition_date=today - timedelta(days=1),
                    due_at=utcnow() - timedelta(days=1),
                    kind=EditionKind.RECURRING,
                    state=EditionState.STARTED,
                    digest_id=digest.id,
                ),
                ScheduledEdition(
                    publication=publication,
                    edition_date=today,
                    due_at=utcnow() - timedelta(minutes=5),
                    kind=EditionKind.RECURRING,
                    state=EditionState.STARTED,
                ),
            ]
        )
    signed_in(Role.PUBLISHER)
    page = client.get("/editor/schedules").text
    assert "/editor/scheduled/1/cancel" not in page  # sent: nothing to cancel
    assert "/editor/scheduled/2/cancel" in page  # started, not sent yet
    assert "/send-now" not in page
    assert "Not available: edition 2 (morning " in page
