"""Readers' choices over HTTP: the sign-up form, the JSON sign-up and the preferences page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.app.factory import create_app
from newsletter.content.edition import Cadence
from newsletter.db import Database
from newsletter.settings import Settings
from subscribers import services
from subscribers.links import Links
from subscribers.models import Subscriber, SubscriptionState
from subscribers.tokens import Tokens
from tests.unit.subscribers.factories import seed

BASE = "https://news.example.org"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    """Development settings with an outbox under the test's data directory."""
    return Settings(data_dir=data_dir, base_url=BASE)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A publication with a Wednesday and Sunday roundup, delivered in readers' zones."""
    app = create_app(settings)
    seed(
        app.state.runtime.database,
        weekly_days=["wed", "sun"],
        local_delivery=True,
        timezone="Europe/London",
    )
    with TestClient(app, base_url=BASE) as test_client:
        yield test_client


def _db(client: TestClient) -> Database:
    database: Database = client.app.state.runtime.database  # type: ignore[attr-defined]
    return database


def _count(client: TestClient) -> int:
    with _db(client).session() as session:
        return int(session.scalar(select(func.count()).select_from(Subscriber)) or 0)


def _confirmed_preferences_url(client: TestClient, settings: Settings) -> str:
    with _db(client).session() as session:
        services.get_list(session, "daily").double_opt_in = False
    client.post("/subscribe/daily", data={"email": "ann@example.org"})
    with _db(client).session() as session:
        subscription = services.get_subscriber(session, "ann@example.org").subscriptions[0]
        assert subscription.state is SubscriptionState.CONFIRMED
        links = Links(settings.base_url, Tokens(settings.secret_key.get_secret_value()))
        url = links.preferences_url(subscription.subscriber_id, subscription.list_id)
    return url.removeprefix(BASE)


def test_sign_up_form_offers_zone_cadence_and_the_roundup_days(client: TestClient) -> None:
    """The form lists zones (default: the publication's), cadences and only offered days."""
    page = client.get("/subscribe/daily").text
    assert '<option value="" selected>The publication\'s (Europe/London)</option>' in page
    assert '<option value="Asia/Tokyo">' in page
    assert 'name="cadence" value="weekly"' in page
    days = re.findall(r'<option value="(\w+)"[^>]*>(\w+day)</option>', page)
    assert days == [("wed", "Wednesday"), ("sun", "Sunday")]
    assert "Editions arrive at 07:00 in this time zone." in page


def test_sign_up_form_stores_the_weekly_reading_and_zone(client: TestClient) -> None:
    """A weekly sign-up on Sunday in Tokyo is stored as such; daily ignores the day select."""
    form = {"email": "ann@example.org", "cadence": "weekly", "weekly_day": "sun"}
    assert (
        client.post("/subscribe/daily", data={**form, "timezone": "Asia/Tokyo"}).status_code == 200
    )
    daily = {"email": "bob@example.org", "cadence": "daily", "weekly_day": "wed", "timezone": ""}
    assert client.post("/subscribe/daily", data=daily).status_code == 200
    with _db(client).session() as session:
        ann = services.get_subscriber(session, "ann@example.org")
        assert ann.timezone == "Asia/Tokyo"
        assert (ann.subscriptions[0].cadence, ann.subscriptions[0].weekly_day) == (
            Cadence.WEEKLY,
            "sun",
        )
        bob = services.get_subscriber(session, "bob@example.org")
        assert bob.timezone is None
        assert (bob.subscriptions[0].cadence, bob.subscriptions[0].weekly_day) == (
            Cadence.DAILY,
            None,
        )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"timezone": "Europe/<b>Atlantis"}, "timezone", "timezone: &#39;Europe/&lt;b&gt;Atlantis"),
        ({"cadence": "weekly", "weekly_day": "mon"}, "weekly_day", "weekly_day: mon is not a day"),
        ({"cadence": "sometimes"}, "cadence", "cadence: &#39;sometimes&#39; is not daily"),
        ({"topics": "Gardening"}, "topics", "topics: &#39;Gardening&#39; is not a topic"),
    ],
)
def test_sign_up_form_shows_the_error_at_the_field(
    client: TestClient, fields: dict[str, str], field: str, message: str
) -> None:
    """A refused choice: 400, the message next to its field (escaped), the form as typed."""
    response = client.post("/subscribe/daily", data={"email": "ann@example.org", **fields})
    assert response.status_code == 400
    assert f'<p class="field-error" id="e-{field}">{message}' in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'value="ann@example.org"' in response.text
    assert _count(client) == 0


def test_json_sign_up_takes_choices_and_names_a_refused_field(client: TestClient) -> None:
    """The API accepts cadence and weekly_day; a bad one is a 422 naming the field."""
    ok = client.post(
        "/api/subscribe",
        json={
            "email": "ann@example.org",
            "list": "daily",
            "cadence": "weekly",
            "weekly_day": "wed",
        },
    )
    assert ok.status_code == 202
    for body, field in (
        ({"cadence": "weekly", "weekly_day": "fri"}, "weekly_day"),
        ({"cadence": "yearly"}, "cadence"),
        ({"timezone": "Nowhere/City"}, "timezone"),
        ({"topics": ["Cooking"]}, "topics"),
    ):
        refused = client.post(
            "/api/subscribe", json={"email": "bob@example.org", "list": "daily", **body}
        )
        assert refused.status_code == 422, body
        answer = refused.json()
        assert answer["fields"][0]["field"] == field
        assert answer["error"].startswith(f"{field}: ")
    with _db(client).session() as session:
        ann = services.get_subscriber(session, "ann@example.org").subscriptions[0]
        assert (ann.cadence, ann.weekly_day) == (Cadence.WEEKLY, "wed")
        assert services.find_subscriber(session, "bob@example.org") is None


def test_preferences_page_changes_zone_and_cadence(client: TestClient, settings: Settings) -> None:
    """The page shows the reader's choices and saves a zone and a weekly roundup."""
    url = _confirmed_preferences_url(client, settings)
    page = client.get(url).text
    assert '<option value="" selected>The publication\'s (Europe/London)</option>' in page
    list_id = re.search(r'name="list" value="(\d+)" checked', page)
    assert list_id is not None
    lid = list_id.group(1)
    assert f'name="cadence-{lid}" value="daily" checked' in page
    saved = client.post(
        url,
        data={
            "list": lid,
            "pause": "",
            "timezone": "America/New_York",
            f"cadence-{lid}": "weekly",
            f"weekly_day-{lid}": "sun",
            f"topics-{lid}": "Science",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    shown = client.get(saved.headers["location"]).text
    assert '<option value="America/New_York" selected>' in shown
    assert f'name="cadence-{lid}" value="weekly" checked' in shown
    assert '<option value="sun" selected>Sunday</option>' in shown
    with _db(client).session() as session:
        ann = services.get_subscriber(session, "ann@example.org")
        assert ann.timezone == "America/New_York"
        assert (ann.subscriptions[0].cadence, ann.subscriptions[0].weekly_day) == (
            Cadence.WEEKLY,
            "sun",
        )
        assert ann.subscriptions[0].topics == ["Science"]


def test_preferences_refusal_is_shown_at_the_field_and_changes_nothing(
    client: TestClient, settings: Settings
) -> None:
    """A forged roundup day: 400, the error beside that list's day, values as typed."""
    url = _confirmed_preferences_url(client, settings)
    lid = re.search(r'name="list" value="(\d+)"', client.get(url).text).group(1)  # type: ignore[union-attr]
    refused = client.post(
        url,
        data={
            "list": lid,
            "pause": "",
            "timezone": "Asia/Tokyo",
            f"cadence-{lid}": "weekly",
            f"weekly_day-{lid}": "fri",
        },
    )
    assert refused.status_code == 400
    assert f'<p class="field-error" id="e-weekly_day-{lid}">weekly_day: fri is not a day' in (
        refused.text
    )
    assert '<option value="Asia/Tokyo" selected>' in refused.text  # as typed
    bad_zone = client.post(url, data={"list": lid, "pause": "", "timezone": "Mars/Base"})
    assert bad_zone.status_code == 400
    assert '<p class="field-error" id="e-timezone">timezone: &#39;Mars/Base&#39;' in bad_zone.text
    with _db(client).session() as session:
        ann = services.get_subscriber(session, "ann@example.org")
        assert ann.timezone is None
        assert ann.subscriptions[0].cadence is Cadence.DAILY


def test_no_roundup_no_cadence_choice(data_dir: Path) -> None:
    """A publication without weekly days shows no cadence; an old form keeps the reading."""
    app = create_app(Settings(data_dir=data_dir, base_url=BASE))
    seed(app.state.runtime.database)
    with TestClient(app, base_url=BASE) as client:
        page = client.get("/subscribe/daily").text
        assert 'name="cadence"' not in page
        assert "Used for dates and times in your emails." in page
        weekly = client.post(
            "/subscribe/daily", data={"email": "a@example.org", "cadence": "weekly"}
        )
        assert weekly.status_code == 400
        assert "cadence: this publication offers no weekly roundup" in weekly.text
