"""Stored webhook posts are applied in sets, in arrival order, once, and never lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select, update

from newsletter.db import Database
from newsletter.delivery import events as events_module
from newsletter.delivery.events import EventsResult, apply_pending
from newsletter.delivery.inbox import WebhookPost, pending_posts, store_post, take_pending
from newsletter.delivery.models import BatchState, Delivery, DeliveryState, SendBatch
from newsletter.pipeline.dispatch import dispatch
from subscribers.models import Suppression
from tests.unit.newsletter.delivery.dispatch_factories import (
    batch_states,
    delivery_state,
    edition_with_readers,
)
from tests.unit.newsletter.delivery.test_events import event, sent_edition


def store(database: Database, *raw: dict[str, Any]) -> int:
    """Store one post of these events, as the webhook does."""
    with database.session() as session:
        return store_post(session, json.dumps(list(raw)), len(raw))


def opens(database: Database, subscriber: int) -> int:
    with database.session() as session:
        return int(
            session.scalar(select(Delivery.opens).where(Delivery.subscriber_id == subscriber)) or 0
        )


def test_delivered_then_bounce_in_one_set_ends_bounced(any_database: Database) -> None:
    """Several events about one delivery in one set fold in arrival order, forward only."""
    digest_id = sent_edition(any_database)
    store(any_database, event("delivered", digest_id, 1), event("processed", digest_id, 1))
    store(any_database, event("bounce", digest_id, 1, type="blocked", reason="421 later"))
    store(any_database, event("deferred", digest_id, 2), event("delivered", digest_id, 2))
    result = apply_pending(any_database)
    assert (result.posts, result.events) == (3, EventsResult(applied=5))
    assert delivery_state(any_database, digest_id, 1) is DeliveryState.BOUNCED
    assert delivery_state(any_database, digest_id, 2) is DeliveryState.DELIVERED
    with any_database.session() as session:
        error = session.scalar(select(Delivery.last_error).where(Delivery.subscriber_id == 1))
        assert error == "421 later"


def test_a_post_applied_twice_changes_nothing(any_database: Database) -> None:
    """The same post stored twice (SendGrid's retry) counts its open once."""
    digest_id = sent_edition(any_database)
    opened = [event("open", digest_id, 1), event("click", digest_id, 1)]
    store(any_database, *opened)
    assert apply_pending(any_database).events == EventsResult(applied=2)
    store(any_database, *opened)
    assert apply_pending(any_database).events == EventsResult(duplicates=2)
    assert opens(any_database, 1) == 1


def test_opens_in_one_set_are_all_counted(database: Database) -> None:
    """Three opens of one delivery in one set add three, keeping the first time."""
    digest_id = sent_edition(database)
    store(database, *(event("open", digest_id, 2, timestamp=1_000 + n) for n in range(3)))
    apply_pending(database)
    assert opens(database, 2) == 3
    with database.session() as session:
        first = session.scalar(select(Delivery.first_opened_at).where(Delivery.subscriber_id == 2))
        assert first is not None
        assert int(first.timestamp()) == 1_000


def test_a_crash_while_applying_loses_nothing(
    any_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If applying fails, the post stays pending with no effect, and the next applier applies it."""
    digest_id = sent_edition(any_database)
    store(any_database, event("open", digest_id, 1), event("delivered", digest_id, 1))

    def crash(*_: Any, **__: Any) -> None:
        raise RuntimeError("worker killed")

    monkeypatch.setattr(events_module, "_suppress", crash)
    with pytest.raises(RuntimeError):
        apply_pending(any_database)
    with any_database.session() as session:
        assert pending_posts(session) == 1
    assert opens(any_database, 1) == 0
    monkeypatch.undo()
    assert apply_pending(any_database).events == EventsResult(applied=2)
    assert opens(any_database, 1) == 1
    assert delivery_state(any_database, digest_id, 1) is DeliveryState.DELIVERED


def test_a_second_applier_leaves_the_work_to_the_first(pg_database: Database) -> None:
    """While one applier holds the inbox (PostgreSQL), another returns at once without applying."""
    digest_id = sent_edition(pg_database)
    store(pg_database, event("open", digest_id, 1))
    with pg_database.session() as holder:
        assert take_pending(holder, max_events=10) is not None
        second = apply_pending(pg_database)
        assert second.busy
        assert second.posts == 0
        holder.rollback()
    assert apply_pending(pg_database).posts == 1
    assert opens(pg_database, 1) == 1


def test_sets_are_bounded_and_taken_in_order(database: Database) -> None:
    """Posts are taken oldest first, as many as fit the set size (at least one)."""
    digest_id = sent_edition(database)
    first = store(database, *(event("open", digest_id, 1) for _ in range(3)))
    second = store(database, event("open", digest_id, 2))
    with database.session() as session:
        taken = take_pending(session, max_events=2)
        assert taken is not None
        assert [p.id for p in taken] == [first]
    with database.session() as session:
        applied = session.scalars(
            select(WebhookPost.id).where(WebhookPost.applied_at.is_not(None))
        ).all()
        assert applied == [first]
    with database.session() as session:
        taken = take_pending(session, max_events=2)
        assert taken is not None
        assert [p.id for p in taken] == [second]


def test_a_time_budget_stops_after_a_set(database: Database) -> None:
    """With a spent time budget the applier stops after one set and says more is pending."""
    digest_id = sent_edition(database)
    store(database, event("open", digest_id, 1))
    store(database, event("open", digest_id, 2))
    result = apply_pending(database, set_size=1, time_budget=0)
    assert (result.posts, result.more) == (1, True)
    assert apply_pending(database).posts == 1


def test_processed_confirms_a_scheduled_batch(any_database: Database) -> None:
    """A processed event for a batch the provider holds accepts the batch and its readers."""
    digest_id, _ = edition_with_readers(any_database, 2)
    from newsletter.providers.memory import MemorySender
    from tests.unit.newsletter.delivery.dispatch_factories import BASE_URL, tokens

    dispatch(any_database, digest_id, MemorySender(), base_url=BASE_URL, tokens=tokens())
    with any_database.session() as session:
        batch_id = session.scalar(select(SendBatch.id).where(SendBatch.digest_id == digest_id))
        session.execute(update(SendBatch).values(state=BatchState.SCHEDULED))
        session.execute(update(Delivery).values(state=DeliveryState.SCHEDULED))
    store(any_database, event("processed", digest_id, 1, batch_id=str(batch_id)))
    assert apply_pending(any_database).events == EventsResult(applied=1)
    assert batch_states(any_database, digest_id) == ["accepted"]
    assert delivery_state(any_database, digest_id, 1) is DeliveryState.ACCEPTED
    assert delivery_state(any_database, digest_id, 2) is DeliveryState.ACCEPTED


def test_an_address_is_suppressed_once_per_set(database: Database) -> None:
    """Two hard bounces and a spam report of one address in one set make one suppression."""
    digest_id = sent_edition(database)
    store(
        database,
        event("bounce", digest_id, 1, type="bounce"),
        event("bounce", digest_id, 1, type="bounce"),
        event("spamreport", digest_id, 1),
    )
    apply_pending(database)
    store(database, event("spamreport", digest_id, 1))
    apply_pending(database)
    with database.session() as session:
        reasons = session.scalars(select(Suppression.reason)).all()
        assert [r.value for r in reasons] == ["hard_bounce"]
        assert session.scalar(select(func.count()).select_from(WebhookPost)) == 2


def test_a_body_that_no_longer_parses_is_skipped(database: Database) -> None:
    """A stored post the parser refuses is logged and marked applied, not retried forever."""
    digest_id = sent_edition(database)
    with database.session() as session:
        store_post(session, "[{", 1)
    store(database, event("open", digest_id, 1))
    assert apply_pending(database).posts == 2
    assert opens(database, 1) == 1


def test_a_delivery_moved_meanwhile_is_replayed_from_its_new_state(
    any_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a worker moved a delivery after the applier read it, its events apply to the new state."""
    digest_id = sent_edition(any_database)
    read = events_module._targets

    def then_moved(session: Any, fresh: Any) -> Any:
        found = read(session, fresh)
        for subscriber, state in ((1, DeliveryState.DELIVERED), (2, DeliveryState.DROPPED)):
            session.execute(
                update(Delivery).where(Delivery.subscriber_id == subscriber).values(state=state)
            )
        return found

    monkeypatch.setattr(events_module, "_targets", then_moved)
    store(
        any_database,
        event("bounce", digest_id, 1, type="blocked", reason="late bounce"),
        event("delivered", digest_id, 2),
    )
    assert apply_pending(any_database).events == EventsResult(applied=2)
    assert delivery_state(any_database, digest_id, 1) is DeliveryState.BOUNCED
    assert delivery_state(any_database, digest_id, 2) is DeliveryState.DROPPED
