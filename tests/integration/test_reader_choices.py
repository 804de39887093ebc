"""Readers' choices end to end on PostgreSQL, through a real HTTP server.

A reader signs up for a weekly roundup in their own zone with the form, confirms from
the emailed link, changes their mind on the preferences page; a forged day is refused
at every door (form, JSON, CSV) and changes nothing; the CSV export reads back in.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from newsletter.app.factory import create_app
from newsletter.content.edition import Cadence
from newsletter.db import Database
from newsletter.settings import Settings
from subscribers import csvio, services
from subscribers.models import Subscriber, SubscriptionState
from tests.unit.subscribers.factories import link_in, outbox_messages, seed

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(data_dir: Path, pg_database: Database) -> Iterator[tuple[str, Settings, Any]]:
    """The app over uvicorn on a free port, its database a fresh PostgreSQL copy."""
    port = _free_port()
    url = pg_database.engine.url.render_as_string(hide_password=False)
    settings = Settings(data_dir=data_dir, base_url=f"http://127.0.0.1:{port}", database_url=url)
    app = create_app(settings)
    seed(
        app.state.runtime.database,
        weekly_days=["wed", "sun"],
        local_delivery=True,
        timezone="Europe/London",
    )
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    ready = threading.Event()
    while not ready.wait(0.05):  # wait for the socket, not a fixed time
        if instance.started:
            ready.set()
        if not thread.is_alive():
            pytest.fail("the web server did not start")
    yield settings.base_url, settings, app
    instance.should_exit = True
    thread.join(10)


def _reader(app: Any, email: str) -> tuple[str | None, Cadence, str | None, list[str], str]:
    with app.state.runtime.database.session() as session:
        subscriber = services.get_subscriber(session, email)
        sub = subscriber.subscriptions[0]
        return subscriber.timezone, sub.cadence, sub.weekly_day, list(sub.topics), sub.state.value


def test_weekly_reader_signs_up_confirms_and_changes_their_mind(
    server: tuple[str, Settings, Any],
) -> None:
    """Form → confirmation email → preferences, each choice stored as made."""
    base_url, settings, app = server
    with httpx.Client(base_url=base_url) as http:
        form = http.get("/subscribe/daily").text
        assert '<option value="sun">Sunday</option>' in form
        answer = http.post(
            "/subscribe/daily",
            data={
                "email": "kenji@example.org",
                "topics": "Science",
                "cadence": "weekly",
                "weekly_day": "sun",
                "timezone": "Asia/Tokyo",
            },
        )
        assert answer.status_code == 200
        assert _reader(app, "kenji@example.org") == (
            "Asia/Tokyo",
            Cadence.WEEKLY,
            "sun",
            ["Science"],
            "pending",
        )
        [message] = outbox_messages(settings.outbox_dir)
        confirm = link_in(message, "/confirm/").removeprefix(base_url)
        confirmed = http.post(confirm)
        assert "You are subscribed" in confirmed.text
        preferences = re.search(r'href="([^"]*/preferences/[^"]+)"', confirmed.text)
        assert preferences is not None
        url = preferences.group(1).removeprefix(base_url)
        page = http.get(url).text
        list_id = re.search(r'name="list" value="(\d+)" checked', page)
        assert list_id is not None
        lid = list_id.group(1)
        assert f'name="cadence-{lid}" value="weekly" checked' in page
        assert '<option value="Asia/Tokyo" selected>' in page
        forged = http.post(
            url,
            data={"list": lid, "pause": "", "timezone": "", f"cadence-{lid}": "weekly"}
            | {f"weekly_day-{lid}": "mon"},
        )
        assert forged.status_code == 400
        assert "weekly_day: mon is not a day this publication offers" in forged.text
        assert _reader(app, "kenji@example.org")[:3] == ("Asia/Tokyo", Cadence.WEEKLY, "sun")
        saved = http.post(
            url,
            data={"list": lid, "pause": "", "timezone": "", f"cadence-{lid}": "daily"}
            | {f"weekly_day-{lid}": "sun", f"topics-{lid}": ["Science", "Sport"]},
        )
        assert saved.status_code == 303
    assert _reader(app, "kenji@example.org") == (
        None,
        Cadence.DAILY,
        None,
        ["Science", "Sport"],
        SubscriptionState.CONFIRMED.value,
    )


def test_json_and_csv_refuse_what_the_publication_does_not_offer(
    server: tuple[str, Settings, Any], tmp_path: Path
) -> None:
    """422 naming the field for the API; the CSV row number and column; nothing written."""
    base_url, _, app = server
    with httpx.Client(base_url=base_url) as http:
        refused = http.post(
            "/api/subscribe",
            json={
                "email": "ann@example.org",
                "list": "daily",
                "cadence": "weekly",
                "weekly_day": "sat",
            },
        )
        assert refused.status_code == 422
        assert refused.json()["fields"] == [
            {"field": "weekly_day", "message": refused.json()["error"].split(": ", 1)[1]}
        ]
        ok = http.post(
            "/api/subscribe",
            json={
                "email": "bo@example.org",
                "list": "daily",
                "cadence": "weekly",
                "weekly_day": "wed",
            },
        )
        assert ok.status_code == 202
    path = tmp_path / "people.csv"
    path.write_text(
        "email,timezone,cadence,weekly_day,topics\n"
        "cy@example.org,America/New_York,weekly,sun,Politics\n"
        "di@example.org,Europe/Nowhere,,,\n"
        "ed@example.org,,weekly,sat,\n"
        "fi@example.org,,,,Knitting\n",
        encoding="utf-8",
    )
    database = app.state.runtime.database
    with database.session() as session:
        report = csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="desk")
    assert report.imported == 1
    assert [(p.row, p.reason.split(":")[0]) for p in report.problems] == [
        (3, "timezone"),
        (4, "weekly_day"),
        (5, "topics"),
    ]
    assert _reader(app, "cy@example.org")[:3] == ("America/New_York", Cadence.WEEKLY, "sun")
    with database.session() as session:
        emails = set(session.scalars(select(Subscriber.email)))
        assert emails == {"bo@example.org", "cy@example.org"}
        # Export, then import the export into a second list of the same publication.
        exported = tmp_path / "out.csv"
        with exported.open("w", encoding="utf-8", newline="") as handle:
            states = list(SubscriptionState)
            assert csvio.export_csv(session, "daily", handle, states=states) == 2
        publication = services.get_list(session, "daily").publication
        services.create_list(session, publication, "weekend", "Weekend")
    with database.session() as session:
        again = csvio.import_csv(
            session, exported, list_slug="weekend", confirmed=True, consent="x"
        )
        assert (again.imported, again.problems) == (2, [])
        count = session.scalar(select(func.count()).select_from(Subscriber))
        assert count == 2
        cy = services.get_subscriber(session, "cy@example.org")
        readings = {(s.mailing_list.slug, s.cadence, s.weekly_day) for s in cy.subscriptions}
        assert readings == {("daily", Cadence.WEEKLY, "sun"), ("weekend", Cadence.WEEKLY, "sun")}
