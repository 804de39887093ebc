"""Dispatch through the outbox: real .eml files whose one-click header really unsubscribes."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.app.factory import create_app
from newsletter.pipeline.dispatch import dispatch
from newsletter.providers.outbox import OutboxSender
from newsletter.runtime import Runtime
from newsletter.settings import Settings
from subscribers.models import Subscription, SubscriptionState
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    SECRET,
    edition_with_readers,
    tokens,
)


def read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    return message


def test_outbox_messages_parse_and_one_click_unsubscribes(data_dir: Path) -> None:
    """Every .eml parses, has both unsubscribe headers; its one-click URL works by POST only."""
    settings = Settings(data_dir=data_dir, secret_key=SECRET, base_url=BASE_URL)
    runtime = Runtime(settings)
    runtime.ensure_schema()
    digest_id, _ = edition_with_readers(runtime.database, 3)
    outbox = OutboxSender(settings.outbox_dir)
    report = dispatch(runtime.database, digest_id, outbox, base_url=BASE_URL, tokens=tokens())
    assert report.state == "sent"
    messages = [read(path) for path in outbox.files()]
    assert sorted(str(m["To"]).split("<")[-1].rstrip(">") for m in messages) == [
        f"reader{n}@example.org" for n in (1, 2, 3)
    ]
    for message in messages:
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        links = [part.strip(" <>") for part in str(message["List-Unsubscribe"]).split(",")]
        assert links[0].startswith(f"{BASE_URL}/u/")
        assert links[1].startswith("mailto:")
        text = message.get_body(("plain",))
        assert text is not None
        assert "%%" not in text.get_content()  # every placeholder was filled
    runtime.close()

    header = str(messages[0]["List-Unsubscribe"])
    one_click = header.split(",")[0].strip(" <>").removeprefix(BASE_URL)
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        assert client.get(one_click).status_code == 200
        database = client.app.state.runtime.database  # type: ignore[attr-defined]
        with database.session() as session:
            states = session.scalars(select(Subscription.state)).all()
            assert set(states) == {SubscriptionState.CONFIRMED}, "a GET must not unsubscribe"
        response = client.post(one_click, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
        with database.session() as session:
            states = session.scalars(select(Subscription.state)).all()
    assert sorted(states) == [SubscriptionState.CONFIRMED] * 2 + [SubscriptionState.UNSUBSCRIBED]
