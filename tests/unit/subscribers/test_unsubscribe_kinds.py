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
