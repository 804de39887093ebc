"""Provider events are applied once each and drive states, suppression and unsubscription."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from newsletter.db import Database
from newsletter.delivery import services
from newsletter.delivery.events import EventsResult, apply_posts
from newsletter.delivery.inbox import PendingPost
from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState
from newsletter.pipeline.dispatch import dispatch
from newsletter.providers.memory import MemorySender
from subscribers.models import Subscription, SubscriptionState, Suppression
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    NOW,
    delivery_state,
    edition_with_readers,
    tokens,
)

T = int(NOW.timestamp())


def event(kind: str, digest_id: int, subscriber: int, **extra: Any) -> dict[str, Any]:
    """One SendGrid-shaped event about ``subscriber``'s copy of the edition."""
    return {
        "email": f"reader{subscriber}@example.org",
        "timestamp": T,
        "event": kind,
        "sg_event_id": uuid.uuid4().hex,
        "sg_message_id": "msg.filter.0",
        "edition_id": str(digest_id),
        "subscriber_id": str(subscriber),
        "batch_id": "1",
        "ip": "192.0.2.1",
        "useragent": "Mail/1.0",
        **extra,
    }


def apply(database: Database, *raw: dict[str, Any]) -> EventsResult:
    """Apply these events as one set, as the applier does with a stored post."""
    with database.session() as session:
        return apply_posts(session, [PendingPost(1, json.dumps(list(raw)))], now=NOW)


def sent_edition(database: Database, readers: int = 2) -> int:
    digest_id, _ = edition_with_readers(database, readers)
    dispatch(database, digest_id, MemorySender(), base_url=BASE_URL, tokens=tokens())
    return digest_id


def test_events_move_deliveries_forward_only(any_database: Database) -> None:
    """Delivered moves an accepted delivery; a late processed event does not move it back."""
    digest_id = sent_edition(any_database)
    result = apply(any_database, event("delivered", digest_id, 1), event("processed", digest_id, 1))
    assert result == EventsResult(applied=2)
    assert delivery_state(any_database, digest_id, 1) is DeliveryState.DELIVERED


def test_duplicate_events_are_applied_once(any_database: Database) -> None:
    """The same sg_event_id twice (a webhook retry or replay) counts and applies once."""
    digest_id = sent_edition(any_database)
    opened = event("open", digest_id, 1)
    assert apply(any_database, opened) == EventsResult(applied=1)
    assert apply(any_database, opened) == EventsResult(duplicates=1)
    with any_database.session() as session:
        opens = session.scalar(select(Delivery.opens).where(Delivery.subscriber_id == 1))
        assert opens == 1
        assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 1


def test_private_fields_are_not_stored(database: Database) -> None:
    """The reader's IP address and user agent are dropped before the event is stored."""
    digest_id = sent_edition(database)
    apply(database, event("click", digest_id, 2, url="https://news.example.org/x"))
    with database.session() as session:
        stored = session.scalars(select(DeliveryEvent)).one()
        assert "ip" not in stored.raw
        assert "useragent" not in stored.raw
        assert stored.kind == "click"
        delivery = session.scalars(select(Delivery).where(Delivery.subscriber_id == 2)).one()
        assert delivery.clicks == 1
        assert delivery.first_clicked_at == NOW


def test_hard_bounce_suppresses_and_soft_block_does_not(any_database: Database) -> None:
    """A hard bounce suppresses the address; a receiver's block only marks the delivery."""
    digest_id = sent_edition(any_database)
    apply(
        any_database,
        event("bounce", digest_id, 1, type="bounce", reason="550 no such user"),
        event("bounce", digest_id, 2, type="blocked", reason="421 try later"),
    )
    assert delivery_state(any_database, digest_id, 1) is DeliveryState.BOUNCED
    assert delivery_state(any_database, digest_id, 2) is DeliveryState.BOUNCED
    with any_database.session() as session:
        suppressed = session.scalars(select(Suppression.email)).all()
        assert suppressed == ["reader1@example.org"]
        error = session.scalar(select(Delivery.last_error).where(Delivery.subscriber_id == 1))
        assert error == "550 no such user"


def test_spam_report_suppresses_and_is_recorded(database: Database) -> None:
    """A spam report suppresses the address and stamps the delivery."""
    digest_id = sent_edition(database)
    apply(database, event("spamreport", digest_id, 2))
    with database.session() as session:
        assert session.scalars(select(Suppression.reason)).one().value == "spam_report"
        complained = session.scalar(
            select(Delivery.complained_at).where(Delivery.subscriber_id == 2)
        )
        assert complained == NOW


def test_unsubscribe_events_end_the_subscription(database: Database) -> None:
    """Unsubscribe and group unsubscribe events end the subscription the mail was sent for."""
    digest_id = sent_edition(database)
    apply(database, event("unsubscribe", digest_id, 1), event("group_unsubscribe", digest_id, 2))
    with database.session() as session:
        found = session.scalars(select(Subscription.state)).all()
        assert set(found) == {SubscriptionState.UNSUBSCRIBED}


def test_unsubscribe_of_erased_subscriber_is_ignored(database: Database) -> None:
    """An unsubscribe event for a subscription that no longer exists changes nothing."""
    digest_id = sent_edition(database)
    with database.session() as session:
        session.execute(Subscription.__table__.delete())
    assert apply(database, event("unsubscribe", digest_id, 1)).applied == 1


def test_events_not_about_our_deliveries_are_kept_unmatched(database: Database) -> None:
    """Events without our ids (test sends, other senders) are stored and counted as unmatched."""
    digest_id = sent_edition(database)
    foreign = event("delivered", digest_id, 1)
    del foreign["edition_id"]
    odd = event("delivered", 999, 1, batch_id="x")
    result = apply(database, foreign, odd, event("bounce", 999, 5, type="bounce", email="bad"))
    assert result == EventsResult(unmatched=3)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_event_confirms_a_batch_whose_answer_was_lost(database: Database) -> None:
    """A processed event for an unknown batch accepts it and then applies to the delivery."""
    from newsletter.errors import OutcomeUnknownError
    from tests.unit.newsletter.delivery.test_services import Scripted, raise_

    digest_id, _ = edition_with_readers(database, 2)
    sender = Scripted(raise_(OutcomeUnknownError("timeout")))
    dispatch(database, digest_id, sender, base_url=BASE_URL, tokens=tokens())
    apply(database, event("delivered", digest_id, 1))
    assert delivery_state(database, digest_id, 1) is DeliveryState.DELIVERED
    assert delivery_state(database, digest_id, 2) is DeliveryState.ACCEPTED
    later = NOW + timedelta(hours=1)
    assert services.reconcile(database, clock=lambda: later) == []
