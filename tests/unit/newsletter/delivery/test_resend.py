"""Resend sends, exactly once, to readers whose failure was transient, and only while fresh."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from newsletter.db import Database
from newsletter.delivery import recording
from newsletter.delivery.models import Delivery, DeliveryState, FailureKind, SendBatch
from newsletter.delivery.resend import requeue_transient, transient_failures
from newsletter.delivery.services import DispatchOptions
from newsletter.errors import PermanentError, RetryableError, TransitionError
from newsletter.pipeline.dispatch import dispatch, send_waiting
from newsletter.providers.interfaces import Batch, SendResult
from newsletter.providers.memory import MemorySender
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    NOW,
    edition_with_readers,
    tokens,
)
from tests.unit.newsletter.delivery.test_services import Clock

WINDOW = timedelta(minutes=10)


class Outage:
    """Refuses the first batch for good and finds the provider unreachable for the rest."""

    def send_batch(self, batch: Batch) -> SendResult:
        """Raise a permanent error for batch 1, a transient one for any other."""
        if batch.key.split("-")[1] == "1":
            raise PermanentError("SendGrid refused batch (HTTP 400): bad request")
        raise RetryableError("connection refused")


def failed_edition(database: Database) -> tuple[int, Clock]:
    """Four readers in batches of two: two refused for good, two past the deadline."""
    digest_id, _ = edition_with_readers(database, 4)
    clock = Clock()
    options = DispatchOptions(batch_size=2, freshness_window=WINDOW, rng=random.Random(3))
    report = dispatch(
        database,
        digest_id,
        Outage(),
        base_url=BASE_URL,
        tokens=tokens(),
        options=options,
        clock=clock,
        sleep=clock.sleep,
    )
    assert report.state == "failed"
    return digest_id, clock


def failures(database: Database) -> dict[FailureKind | None, int]:
    """Failed deliveries counted by failure kind."""
    with database.session() as session:
        rows = session.execute(
            select(Delivery.failure).where(Delivery.state == DeliveryState.FAILED)
        ).all()
    counts: dict[FailureKind | None, int] = {}
    for (kind,) in rows:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def test_resend_sends_transient_failures_once(any_database: Database) -> None:
    """Only the transiently failed readers are queued again and sent; a second resend adds none."""
    digest_id, clock = failed_edition(any_database)
    assert failures(any_database) == {FailureKind.PERMANENT: 2, FailureKind.TRANSIENT: 2}
    with any_database.session() as session:
        assert transient_failures(session, digest_id) == 2
        requeued_at = clock.now
        requeued = requeue_transient(session, digest_id, now=requeued_at, batch_size=1)
    assert requeued.readers == 2
    assert len(requeued.batch_ids) == 2
    assert requeued.deliver_by == NOW + WINDOW
    sender = MemorySender()
    # The outage left the provider's breaker open: the resend waits for its probe time.
    report = send_waiting(
        any_database,
        digest_id,
        sender,
        base_url=BASE_URL,
        tokens=tokens(),
        clock=clock,
        sleep=clock.sleep,
    )
    assert sorted(e.to for e in sender.sent) == ["reader3@example.org", "reader4@example.org"]
    assert report.state == "partially_failed"
    assert report.by_state == {"accepted": 2, "failed": 2}
    with any_database.session() as session:
        again = requeue_transient(session, digest_id, now=requeued_at)
    assert again.readers == 0
    send_waiting(any_database, digest_id, sender, base_url=BASE_URL, tokens=tokens())
    assert len(sender.sent) == 2


def test_resend_after_the_deadline_is_refused_naming_it(database: Database) -> None:
    """Once deliver_by has passed, resend refuses with the deadline and moves nobody."""
    digest_id, _ = failed_edition(database)
    deadline = NOW + WINDOW
    with database.session() as session, pytest.raises(TransitionError) as caught:
        requeue_transient(session, digest_id, now=deadline)
    assert f"past its deadline ({deadline:%Y-%m-%d %H:%M} UTC)" in str(caught.value)
    assert failures(database) == {FailureKind.PERMANENT: 2, FailureKind.TRANSIENT: 2}


def test_resend_of_an_edition_never_sent_is_refused(database: Database) -> None:
    """An edition without batches has nothing to resend, and says so."""
    digest_id, _ = edition_with_readers(database, 1)
    with database.session() as session, pytest.raises(TransitionError, match="never sent"):
        requeue_transient(session, digest_id, now=NOW)


def test_concurrent_resends_queue_each_reader_once(pg_database: Database) -> None:
    """Two resends racing on PostgreSQL: one queues the readers, the other finds none left."""
    digest_id, clock = failed_edition(pg_database)
    start = threading.Barrier(2)
    results: list[int] = []
    lock = threading.Lock()

    def resend() -> None:
        start.wait(timeout=30)
        with pg_database.session() as session:
            moved = requeue_transient(session, digest_id, now=clock.now).readers
        with lock:
            results.append(moved)

    threads = [threading.Thread(target=resend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [0, 2]
    with pg_database.session() as session:
        queued = session.scalar(
            select(Delivery.id).where(Delivery.state == DeliveryState.QUEUED).limit(5)
        )
        count = len(
            session.scalars(select(Delivery.id).where(Delivery.state == DeliveryState.QUEUED)).all()
        )
    assert queued is not None
    assert count == 2


def test_a_retried_batch_never_revives_a_failed_reader(database: Database) -> None:
    """Moving a batch's recipients back to queued leaves its failed ones failed."""
    _, clock = failed_edition(database)
    with database.session() as session:
        batch_id = session.scalars(select(SendBatch.id).order_by(SendBatch.number)).first()
        assert batch_id is not None
        session.execute(update(SendBatch).where(SendBatch.id == batch_id).values(state="planned"))
        recording.move_recipients(session, batch_id, DeliveryState.QUEUED, updated_at=clock.now)
    assert failures(database) == {FailureKind.PERMANENT: 2, FailureKind.TRANSIENT: 2}
