"""CSV import (progress, row-numbered report) and export of a list in the back office."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.app.factory import create_app
from newsletter.db import Database, utcnow
from newsletter.editors import services
from newsletter.editors.models import AuditEntry, Role
from newsletter.settings import EmailBackend, Settings
from subscribers.import_jobs import ImportJob, JobState, start_job
from subscribers.models import Subscriber, Subscription, SubscriptionState
from subscribers.services import ensure_default_list
from tests.factories import make_publication
from tests.unit.newsletter.backoffice.conftest import PASSWORD, sign_in

SignIn = Callable[[Role], str]
GOOD_AND_BAD = (
    "email,name,topics\n"
    "ana@example.org,Ana,\n"
    "not-an-address,Nobody,\n"
    ",Nobody at all,\n"
    "ben@example.org,Ben,\n"
)


def _list(db: Database) -> None:
    with db.session() as session:
        ensure_default_list(session, make_publication(session))


def _finished(client: TestClient, location: str) -> str:
    """The job page once the import thread has finished (it refreshes itself meanwhile)."""
    deadline = utcnow() + timedelta(seconds=60)
    while utcnow() < deadline:
        page = client.get(location).text
        if 'http-equiv="refresh"' not in page:
            return page
    raise AssertionError("the import did not finish within a minute")


def _upload(client: TestClient, token: str, text: str, **form: str) -> TestClient:
    return client.post(  # type: ignore[return-value]
        "/editor/lists/morning/import",
        data={"csrf_token": token, **form},
        files={"file": ("readers.csv", text.encode(), "text/csv")},
    )


def test_import_reports_refused_rows_by_number(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Good rows go in as confirmed; the refused ones are listed with their row numbers."""
    _list(db)
    token = signed_in(Role.ADMIN)
    assert "Import into" in client.get("/editor/lists/morning/import").text
    started = _upload(client, token, GOOD_AND_BAD, confirmed="yes", consent="signed at the fair")
    assert started.status_code == 303
    location = started.headers["location"]
    assert location.startswith("/editor/imports/")
    page = _finished(client, location)
    assert "<strong>2</strong> of 4 rows imported" in page
    assert "2 refused" in page
    assert '<td class="num">3</td><td>not-an-address</td>' in page
    assert '<td class="num">4</td><td>(no address)</td>' in page
    with db.session() as session:
        states = dict(
            session.execute(
                select(Subscriber.email, Subscription.state).join(
                    Subscription, Subscription.subscriber_id == Subscriber.id
                )
            ).all()
        )
        assert states == {
            "ana@example.org": SubscriptionState.CONFIRMED,
            "ben@example.org": SubscriptionState.CONFIRMED,
        }
        job = session.scalars(select(ImportJob)).one()
        assert job.state is JobState.DONE
        assert job.bytes_done == job.bytes_total == len(GOOD_AND_BAD)
        actions = set(session.scalars(select(AuditEntry.action)))
        assert "list.import" in actions


def test_a_refused_upload_keeps_the_form_and_changes_nothing(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    _list(db)
    token = signed_in(Role.ADMIN)
    no_consent = _upload(client, token, GOOD_AND_BAD, confirmed="yes")
    assert no_consent.status_code == 400
    assert "How they agreed: say how" in no_consent.text
    assert 'value="yes" checked' in no_consent.text
    empty = client.post("/editor/lists/morning/import", data={"csrf_token": token})
    assert empty.status_code == 400
    assert "File: choose a CSV file" in empty.text
    assert client.get("/editor/lists/nope/import").status_code == 404
    with db.session() as session:
        assert session.scalars(select(ImportJob)).all() == []
        assert session.scalars(select(Subscriber)).all() == []
    publisher_token = signed_in(Role.PUBLISHER)
    assert _upload(client, publisher_token, GOOD_AND_BAD).status_code == 403


def test_a_file_over_the_limit_is_refused_naming_the_setting(data_dir: Path) -> None:
    """Over the CSV limit: the form says which setting; far over it, 413 before any reading."""
    app = create_app(
        Settings(data_dir=data_dir, email_backend=EmailBackend.MEMORY, max_csv_bytes=4096)
    )
    db: Database = app.state.runtime.database
    _list(db)
    with db.session() as session:
        services.create_editor(session, "Admin", "admin@example.org", Role.ADMIN, PASSWORD)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        token = sign_in(client, "Admin")
        refused = _upload(client, token, "email\n" + "x" * 5000)
        assert refused.status_code == 400
        assert "NEWSLETTER_MAX_CSV_BYTES" in refused.text
        far_over = _upload(client, token, "email\n" + "x" * 100_000)
        assert far_over.status_code == 413
    with db.session() as session:
        assert session.scalars(select(ImportJob)).all() == []
    assert list((data_dir / "imports").glob("*")) == []  # the refused upload was not kept


def test_an_interrupted_import_says_nothing_was_imported(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    _list(db)
    with db.session() as session:
        job = start_job(session, "morning", "old.csv", confirmed=True, actor="Admin", size=10)
        job.updated_at = utcnow() - timedelta(minutes=5)
        job_id = job.id
    signed_in(Role.ADMIN)
    page = client.get(f"/editor/imports/{job_id}").text
    assert "Interrupted" in page
    assert 'http-equiv="refresh"' not in page
    assert client.get("/editor/imports/99999").status_code == 404


def test_export_streams_the_list_in_the_import_format(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    _list(db)
    token = signed_in(Role.ADMIN)
    _finished(
        client,
        _upload(client, token, GOOD_AND_BAD, confirmed="yes", consent="fair").headers["location"],
    )
    response = client.get("/editor/lists/morning/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="morning.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][0] == "email"
    assert [row[0] for row in rows[1:]] == ["ana@example.org", "ben@example.org"]
    pending = client.get("/editor/lists/morning/export.csv?state=pending")
    assert list(csv.reader(io.StringIO(pending.text)))[1:] == []
    assert client.get("/editor/lists/morning/export.csv?state=gone").status_code == 400
    signed_in(Role.EDITOR)
    assert client.get("/editor/lists/morning/export.csv").status_code == 403
