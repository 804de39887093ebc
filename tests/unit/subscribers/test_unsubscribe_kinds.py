"""One-click and visible unsubscribe links that name a kind of mail leave that kind only.

A reader who gets both the digest and alerts leaves alerts from an alert's link and
keeps the digest; leaving the last kind ends the subscription with a consent row; a
link without a kind (mails sent before kinds existed) still ends the subscription.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.app.factory import create_app
from newsletter.content.edition import MailKind
from newsletter.db import Database
from newsletter.settings import Settings
from subscribers import services
from subscribers.links import Links
from subscribers.models import Consent, ConsentSource, Subscriber, Subscription, SubscriptionState
from subscribers.tokens import Tokens
from subscribers.transitions import Evidence, start_subscription
from tests.unit.subscribers.factories import seed

S = SubscriptionState
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
BASE = "https://news.example.org"


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    """A test client on a fresh app with one publication ("daily") and its list."""
    app = create_app(Settings(data_dir=data_dir, base_url=BASE))
    seed(app.state.runtime.database)
    with TestClient(app, base_url=BASE) as test_client:
        yield test_client


def _db(client: TestClient) -> Database:
    database: Database = client.app.state.runtime.database  # type: ignore[attr-defined]
    return database


def _links(client: TestClient) -> Links:
    settings: Settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
    return Links(settings.base_url, Tokens(settings.secret_key.get_secret_value()))


def _reader(client: TestClient, *, digests: bool = True, alerts: bool = True) -> tuple[int, int]:
    """A confirmed reader of the list with the kinds given; (subscriber id, list id)."""
    with _db(client).session() as session:
        mailing_list = services.get_list(session, "daily")
        subscriber = Subscriber(email="ann@example.org")
        session.add(subscriber)
        subscription = start_subscription(
            session, subscriber, mailing_list, S.CONFIRMED, Evidence(ConsentSource.CLI)
        )
        subscription.digests, subscription.alerts = digests, alerts
        return subscription.subscriber_id, mailing_list.id


def _subscription(client: TestClient) -> tuple[S, bool, bool, list[str]]:
    with _db(client).session() as session:
        subscription = session.scalars(select(Subscription)).one()
        texts = [c.text for c in session.scalars(select(Consent).order_by(Consent.id))][1:]
        return subscription.state, subscription.digests, subscription.alerts, texts


def _path(url: str) -> str:
    return url.removeprefix(BASE)


def test_one_click_from_an_alert_leaves_alerts_only(client: TestClient) -> None:
    subscriber_id, list_id = _reader(client)
    url = _path(_links(client).one_click_url(subscriber_id, list_id, kind=MailKind.ALERT))
    page = client.get(url)
    assert "Stop sending <strong>alerts</strong>" in page.text
    assert "You will still receive the digest." in page.text
    assert _subscription(client)[:3] == (S.CONFIRMED, True, True), "a GET changes nothing"
    done = client.post(url, data=ONE_CLICK, headers={"cookie": ""})
    assert done.status_code == 200
    assert "You left alerts" in done.text
    assert "You still receive the digest." in done.text
    state, digests, alerts, texts = _subscription(client)
    assert (state, digests, alerts) == (S.CONFIRMED, True, False)
    assert texts == ["left alerts"]
    # Again: nothing more changes, no second consent row; the page says it is done.
    assert client.post(url, data=ONE_CLICK).status_code == 200
    assert _subscription(client)[3] == ["left alerts"]
    assert "You left alerts" in client.get(url).text


def test_leaving_the_last_kind_ends_the_subscription(client: TestClient) -> None:
    subscriber_id, list_id = _reader(client, alerts=False)
    url = _path(_links(client).unsubscribe_url(subscriber_id, list_id, kind=MailKind.DIGEST))
    page = client.get(url)
    assert "It is the only mail of" in page.text
    done = client.post(url, data=ONE_CLICK)
    assert "You are unsubscribed" in done.text
    state, digests, alerts, texts = _subscription(client)
    assert (state, digests, alerts) == (S.UNSUBSCRIBED, False, False)
    assert texts == ["left the digest, the last kind of mail"]
    with _db(client).session() as session:
        consent = session.scalars(select(Consent).order_by(Consent.id.desc())).first()
        assert consent is not None
        assert (consent.from_state, consent.to_state, consent.source.value) == (
            "confirmed",
            "unsubscribed",
            "email",
        )


def test_a_link_without_a_kind_still_ends_the_whole_subscription(client: TestClient) -> None:
    subscriber_id, list_id = _reader(client)
    url = _path(_links(client).one_click_url(subscriber_id, list_id))
    assert "Stop sending <strong>The Daily Briefing</strong>" in client.get(url).text
    client.post(url, data=ONE_CLICK)
    state, digests, alerts, _texts = _subscription(client)
    assert (state, digests, alerts) == (S.UNSUBSCRIBED, True, True)


def test_a_kind_link_after_unsubscribing_changes_nothing(client: TestClient) -> None:
    subscriber_id, list_id = _reader(client)
    client.post(_path(_links(client).one_click_url(subscriber_id, list_id)), data=ONE_CLICK)
    url = _path(_links(client).one_click_url(subscriber_id, list_id, kind=MailKind.ALERT))
    assert "You are unsubscribed" in client.get(url).text
    assert "You are unsubscribed" in client.post(url, data=ONE_CLICK).text
    assert _subscription(client)[:3] == (S.UNSUBSCRIBED, True, True)


def _preferences(client: TestClient, subscriber_id: int, list_id: int) -> str:
    return _path(_links(client).preferences_url(subscriber_id, list_id))


def test_the_preferences_page_shows_and_changes_each_kind(client: TestClient) -> None:
    subscriber_id, list_id = _reader(client, alerts=False)
    url = _preferences(client, subscriber_id, list_id)
    page = client.get(url).text
    assert f'name="digests-{list_id}" value="yes" checked' in page
    assert f'name="alerts-{list_id}" value="yes">' in page  # offered, not ticked
    assert f'name="alert_topics-{list_id}" value="Science"' in page
    form = {
        "list": str(list_id),
        f"kinds-{list_id}": "shown",
        f"alerts-{list_id}": "yes",
        f"alert_topics-{list_id}": ["science", "Sport"],
        "pause": "",
    }
    saved = client.post(url, data=form, follow_redirects=False)
    assert saved.status_code == 303
    with _db(client).session() as session:
        subscription = session.scalars(select(Subscription)).one()
        assert (subscription.digests, subscription.alerts) == (False, True)
        assert subscription.alert_topics == ["Science", "Sport"]  # as the publication spells them
    assert _subscription(client)[3][-2:] == ["left the digest", "joined alerts"]
    shown = client.get(url).text
    assert f'name="alert_topics-{list_id}" value="Sport" checked' in shown
    assert f'name="digests-{list_id}" value="yes">' in shown


def test_preferences_refuse_no_kind_and_unknown_alert_topics(client: TestClient) -> None:
    subscriber_id, list_id = _reader(client)
    url = _preferences(client, subscriber_id, list_id)
    neither = client.post(url, data={"list": str(list_id), f"kinds-{list_id}": "shown"})
    assert neither.status_code == 400
    assert "digests: choose the digest, alerts or both" in neither.text
    assert f'id="e-digests-{list_id}"' in neither.text
    unknown = client.post(
        url,
        data={
            "list": str(list_id),
            f"kinds-{list_id}": "shown",
            f"alerts-{list_id}": "yes",
            f"alert_topics-{list_id}": "Gardening",
        },
    )
    assert unknown.status_code == 400
    assert "alert_topics: &#39;Gardening&#39; is not a topic of this publication" in unknown.text
    assert _subscription(client)[:3] == (S.CONFIRMED, True, True)
    # A client that does not show the kinds keeps them as they are.
    kept = client.post(url, data={"list": str(list_id), "pause": ""}, follow_redirects=False)
    assert kept.status_code == 303
    assert _subscription(client)[:3] == (S.CONFIRMED, True, True)


def _kinds_of(client: TestClient, email: str) -> tuple[bool, bool, list[str]]:
    with _db(client).session() as session:
        subscription = services.get_subscriber(session, email).subscriptions[0]
        return subscription.digests, subscription.alerts, list(subscription.alert_topics)


def test_sign_up_form_and_api_offer_alerts(client: TestClient) -> None:
    """Alerts are an opt-in beside the digest, by topic when the publication has topics."""
    form = client.get("/subscribe/daily").text
    assert 'name="alerts" value="yes"' in form
    assert 'name="alert_topics" value="Sport"' in form
    client.post("/subscribe/daily", data={"email": "plain@example.org"})
    assert _kinds_of(client, "plain@example.org") == (True, False, [])
    client.post(
        "/subscribe/daily",
        data={"email": "web@example.org", "alerts": "yes", "alert_topics": "sport"},
    )
    assert _kinds_of(client, "web@example.org") == (True, True, ["Sport"])
    api = client.post(
        "/api/subscribe",
        json={"email": "api@example.org", "list": "daily", "alerts": True},
    )
    assert api.status_code == 202
    assert _kinds_of(client, "api@example.org") == (True, True, [])
    bad = client.post(
        "/api/subscribe",
        json={"email": "bad@example.org", "list": "daily", "alerts": True, "alert_topics": ["X"]},
    )
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "alert_topics"
    refused = client.post(
        "/subscribe/daily",
        data={"email": "bad@example.org", "alerts": "yes", "alert_topics": "Gardening"},
    )
    assert refused.status_code == 400
    assert 'id="e-alert_topics"' in refused.text
    assert 'name="alerts" value="yes" checked' in refused.text
    with _db(client).session() as session:
        assert services.find_subscriber(session, "bad@example.org") is None
