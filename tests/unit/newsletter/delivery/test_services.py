"""Dispatch sends each recipient once and records what the provider said, whatever it said."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.db import Database
from newsletter.delivery import breaker, ledger, roster, services
from newsletter.delivery.models import Delivery, FailureKind, ProviderBreaker
from newsletter.delivery.report import DeliveryReport
from newsletter.delivery.services import DispatchOptions
from newsletter.errors import (
    OutcomeUnknownError,
    PermanentError,
    RecipientsRejected,
    RetryableError,
)
from newsletter.pipeline.dispatch import Progress, dispatch
from newsletter.pipeline.steps import plan
from newsletter.providers.interfaces import Batch, SendResult
from newsletter.providers.memory import MemorySender
from subscribers.models import Subscriber
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    NOW,
    batch_states,
    edition_with_readers,
    states,
    tokens,
)


class Scripted:
    """A sender that raises the scripted errors first, then behaves like the memory sender."""

    def __init__(self, *script: Callable[[Batch], None]) -> None:
        self.script = list(script)
        self.memory = MemorySender()
        self.calls = 0
        self._lock = threading.Lock()

    def send_batch(self, batch: Batch) -> SendResult:
        with self._lock:
            self.calls += 1
            step = self.script.pop(0) if self.script else None
        if step is not None:
            step(batch)
        return self.memory.send_batch(batch)


def raise_(error: Exception) -> Callable[[Batch], None]:
    def step(_batch: Batch) -> None:
        raise error

    return step


class Clock:
    """A clock tests move by hand; ``sleep`` advances it instead of waiting."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def send(
    database: Database,
    digest_id: int,
    sender: object,
    clock: Clock | None = None,
    **options: object,
) -> DeliveryReport:
    clock = clock or Clock()
    return dispatch(
        database,
        digest_id,
        sender,  # type: ignore[arg-type]
        base_url=BASE_URL,
        tokens=tokens(),
        options=DispatchOptions(rng=random.Random(1), **options),  # type: ignore[arg-type]
        clock=clock,
        sleep=clock.sleep,
    )


def test_every_confirmed_reader_gets_one_copy(any_database: Database) -> None:
    """A dispatch sends each reader exactly one message and marks the edition sent."""
    digest_id, _ = edition_with_readers(any_database, 25)
    sender = MemorySender()
    seen: list[int] = []
    report = dispatch(
        any_database,
        digest_id,
        sender,
        base_url=BASE_URL,
        tokens=tokens(),
        options=DispatchOptions(batch_size=10),
        progress=Progress(on_batch=lambda p: seen.append(p.done)),
        clock=lambda: NOW,
    )
    addresses = [email.to for email in sender.sent]
    assert len(addresses) == 25 == len(set(addresses))
    assert report.state == "sent"
    assert report.sent == 25
    assert report.failed == 0
    assert report.batches == {"accepted": 3}
    assert seen == [10, 20, 25]


def test_running_dispatch_again_sends_nothing_more(any_database: Database) -> None:
    """A retried or duplicated dispatch task does not send anyone a second copy."""
    digest_id, _ = edition_with_readers(any_database, 5)
    sender = MemorySender()
    send(any_database, digest_id, sender)
    report = send(any_database, digest_id, sender)
    assert len(sender.sent) == 5
    assert report.state == "sent"


def test_duplicated_tasks_in_parallel_send_once(any_database: Database) -> None:
    """Two dispatches of one edition running at the same time still send each reader once."""
    digest_id, _ = edition_with_readers(any_database, 30)
    sender = MemorySender()
    errors: list[BaseException] = []

    def task() -> None:
        try:
            send(any_database, digest_id, sender, batch_size=5)
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)

    threads = [threading.Thread(target=task) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    addresses = [email.to for email in sender.sent]
    assert len(addresses) == 30 == len(set(addresses))
    assert states(any_database, digest_id) == {"accepted": 30}


def test_parallel_workers_share_the_batches(database: Database) -> None:
    """Several workers in one dispatch split the batches between them, each sent once."""
    digest_id, _ = edition_with_readers(database, 40)
    sender = MemorySender()
    report = send(database, digest_id, sender, batch_size=4, workers=3)
    assert len(sender.batches) == 10
    assert len({e.to for e in sender.sent}) == 40
    assert report.state == "sent"


def test_retryable_errors_wait_and_retry(database: Database) -> None:
    """A 429 waits for the rate limit's reset, a 500 backs off, and then the batch goes out."""
    digest_id, _ = edition_with_readers(database, 3)
    sender = Scripted(raise_(RetryableError("429", retry_after=7.0)), raise_(RetryableError("500")))
    clock = Clock()
    report = send(database, digest_id, sender, clock)
    assert sender.calls == 3
    assert len(sender.memory.sent) == 3
    assert clock.slept[0] == 7.0
    assert 0 <= clock.slept[1] <= 1.0
    assert report.state == "sent"


def test_transient_failures_are_retried_until_the_deadline_not_a_count(database: Database) -> None:
    """Twenty refused connections in a row (more than any fixed count) end in one delivery."""
    digest_id, _ = edition_with_readers(database, 2)
    sender = Scripted(*[raise_(RetryableError("connection refused")) for _ in range(20)])
    clock = Clock()
    report = send(database, digest_id, sender, clock)
    assert sender.calls == 21
    assert len(sender.memory.sent) == 2
    assert report.state == "sent"
    assert clock.now - NOW < timedelta(hours=1)  # waits stayed short: backoff, then probes


def test_past_the_deadline_readers_fail_as_transient_with_the_reason(database: Database) -> None:
    """When the next attempt would fall after deliver_by, the readers fail transient, with why."""
    digest_id, _ = edition_with_readers(database, 2)
    sender = Scripted(*[raise_(RetryableError("HTTP 503 busy")) for _ in range(10_000)])
    clock = Clock()
    report = send(database, digest_id, sender, clock, freshness_window=timedelta(minutes=10))
    assert report.state == "failed"
    assert report.failed == 2
    assert batch_states(database, digest_id) == ["failed"]
    assert clock.now <= NOW + timedelta(minutes=10)
    with database.session() as session:
        rows = session.execute(select(Delivery.failure, Delivery.last_error)).all()
    assert {kind for kind, _ in rows} == {FailureKind.TRANSIENT}
    assert all("HTTP 503 busy" in error and "deadline passed" in error for _, error in rows)
    assert sender.calls < 60  # the breaker opened: probes, not a hammering


def test_permanent_error_fails_batch_but_not_the_others(database: Database) -> None:
    """A 400 fails its own batch for good; other batches go out; the edition is partly failed."""
    digest_id, _ = edition_with_readers(database, 4)
    sender = Scripted(raise_(PermanentError("SendGrid refused batch (HTTP 400): bad")))
    report = send(database, digest_id, sender, batch_size=2)
    assert report.state == "partially_failed"
    assert report.by_state == {"accepted": 2, "failed": 2}
    assert batch_states(database, digest_id) == ["failed", "accepted"]


def test_rejected_addresses_fail_and_the_rest_are_resent(database: Database) -> None:
    """Addresses the provider refuses fail permanently; the others go out in a new request."""
    digest_id, _ = edition_with_readers(database, 3)
    rejected = {"reader2@example.org": "Does not contain a valid address."}
    sender = Scripted(raise_(RecipientsRejected("HTTP 400", rejected=rejected)))
    report = send(database, digest_id, sender)
    assert sorted(e.to for e in sender.memory.sent) == [
        "reader1@example.org",
        "reader3@example.org",
    ]
    assert report.by_state == {"accepted": 2, "failed": 1}
    assert report.state == "partially_failed"


def test_rejection_naming_nobody_fails_the_batch(database: Database) -> None:
    """A rejection that names no recipient of the request cannot loop: the batch fails."""
    digest_id, _ = edition_with_readers(database, 1)
    sender = Scripted(raise_(RecipientsRejected("HTTP 400", rejected={"x@y.org": "no"})))
    report = send(database, digest_id, sender)
    assert report.state == "failed"
    assert sender.calls == 1


def test_every_address_rejected_fails_the_batch(database: Database) -> None:
    """When every recipient is refused, the batch and edition fail."""
    digest_id, _ = edition_with_readers(database, 1)
    rejected = {"reader1@example.org": "invalid"}
    sender = Scripted(raise_(RecipientsRejected("HTTP 400", rejected=rejected)))
    report = send(database, digest_id, sender)
    assert report.state == "failed"
    assert batch_states(database, digest_id) == ["failed"]


def test_accepted_with_some_rejected(database: Database) -> None:
    """A provider that accepts a request but names refused addresses fails only those."""
    digest_id, _ = edition_with_readers(database, 2)

    class Partial:
        def send_batch(self, batch: Batch) -> SendResult:
            return SendResult("msg-1", rejected={"reader1@example.org": "bad"})

    report = send(database, digest_id, Partial())
    assert report.by_state == {"accepted": 1, "failed": 1}


def test_lost_answer_leaves_the_batch_unknown(database: Database) -> None:
    """When no answer comes, the batch is marked unknown and never resent blindly."""
    digest_id, _ = edition_with_readers(database, 2)
    sender = Scripted(raise_(OutcomeUnknownError("timeout")))
    report = send(database, digest_id, sender)
    assert sender.calls == 1
    assert report.state == "sending"
    assert batch_states(database, digest_id) == ["unknown"]
    assert states(database, digest_id) == {"claimed": 2}


def test_erased_subscriber_fails_without_blocking_others(database: Database) -> None:
    """A subscriber erased between planning and sending is recorded failed; the rest get it."""
    digest_id, _ = edition_with_readers(database, 2)
    plan(database, digest_id, clock=lambda: NOW)
    with database.session() as session:
        session.execute(Subscriber.__table__.delete().where(Subscriber.email.like("reader1@%")))
    sender = MemorySender()
    report = send(database, digest_id, sender)
    assert [e.to for e in sender.sent] == ["reader2@example.org"]
    assert report.by_state == {"accepted": 1, "failed": 1}


def test_sent_edition_is_not_planned_again(database: Database) -> None:
    """Dispatching an edition already sent only returns its report."""
    digest_id, _ = edition_with_readers(database, 1)
    send(database, digest_id, MemorySender())
    sender = Scripted(raise_(AssertionError("must not send")))
    assert send(database, digest_id, sender).state == "sent"
    assert sender.calls == 0


def test_send_test_is_marked_and_outside_the_ledger(database: Database) -> None:
    """A test send goes to one address, says TEST in the subject and leaves no delivery."""
    digest_id, _ = edition_with_readers(database, 1)
    sender = MemorySender()
    services.send_test(
        database,
        digest_id,
        sender,
        "editor@example.org",
        base_url=BASE_URL,
        tokens=tokens(),
        signup_url=f"{BASE_URL}/subscribe/morning",
    )
    (email,) = sender.sent
    assert email.subject.startswith("[TEST] ")
    assert email.to == "editor@example.org"
    assert "edition_id" not in email.custom_args
    assert states(database, digest_id) == {}


def test_progress_total_counts_queued(database: Database) -> None:
    """The progress total is the number of recipients planned in this run."""
    digest_id, _ = edition_with_readers(database, 3)
    progress = Progress()
    dispatch(
        database, digest_id, MemorySender(), base_url=BASE_URL, tokens=tokens(), progress=progress
    )
    assert (progress.total, progress.done) == (3, 3)


@pytest.mark.parametrize("workers", [1, 2])
def test_empty_list_is_sent_with_nothing_failed(database: Database, workers: int) -> None:
    """An edition whose list is empty ends sent (nothing failed), with zero recipients."""
    digest_id, _ = edition_with_readers(database, 0)
    report = send(database, digest_id, MemorySender(), workers=workers)
    assert report.state == "sent"
    assert report.recipients == 0


def test_large_plans_refresh_statistics(
    any_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan above the threshold refreshes the planner's statistics after the bulk
    insert (before the Python pass reads who is left) and after its commit; it still
    sends once."""
    monkeypatch.setattr(ledger, "ANALYZE_AFTER", 2)
    calls: list[str] = []
    refresh, candidates = ledger.refresh_statistics, roster.candidates

    def refreshing(session: Session) -> None:
        calls.append("analyze")
        refresh(session)

    def reading(*args: Any, **kwargs: Any) -> Any:
        calls.append("candidates")
        return candidates(*args, **kwargs)

    monkeypatch.setattr(ledger, "refresh_statistics", refreshing)
    monkeypatch.setattr(roster, "candidates", reading)
    digest_id, _ = edition_with_readers(any_database, 3)
    sender = MemorySender()
    assert send(any_database, digest_id, sender).state == "sent"
    assert len(sender.sent) == 3
    assert calls == ["analyze", "candidates", "analyze"]


def test_open_breaker_holds_the_dispatch_loop_until_its_probe(database: Database) -> None:
    """`digest send` waits for an open breaker's probe; the probe's success lets the rest go."""
    digest_id, _ = edition_with_readers(database, 3)
    probe_at = NOW + timedelta(seconds=30)
    with database.session() as session:
        session.add(
            ProviderBreaker(
                name=breaker.EMAIL, failures=5, opened_at=NOW, probe_at=probe_at, updated_at=NOW
            )
        )
    clock = Clock()
    calls: list[datetime] = []

    class Timed(MemorySender):
        def send_batch(self, batch: Batch) -> SendResult:
            calls.append(clock())
            return super().send_batch(batch)

    report = send(database, digest_id, Timed(), clock, batch_size=1)
    assert report.state == "sent"
    assert calls[0] >= probe_at
    assert len(calls) == 3
    with database.session() as session:
        assert not breaker.is_open(session, breaker.EMAIL)


def counted(name: str, outcome: str) -> float:
    """The process's current value of one outcome of a send counter."""
    value = REGISTRY.get_sample_value(f"{name}_total", {"outcome": outcome})
    return value or 0.0


def test_request_outcomes_are_counted(database: Database) -> None:
    """A rejected address and the accepted resend reach the counters, with recipients."""
    names = ("newsletter_send_requests", "newsletter_send_recipients")
    before = {(n, o): counted(n, o) for n in names for o in ("accepted", "rejected")}
    digest_id, _ = edition_with_readers(database, 6)
    rejected = {"reader1@example.org": "invalid"}
    sender = Scripted(raise_(RecipientsRejected("HTTP 400", rejected=rejected)))
    send(database, digest_id, sender, batch_size=6)
    grew = {key: counted(*key) - value for key, value in before.items()}
    assert grew == {
        ("newsletter_send_requests", "rejected"): 1,
        ("newsletter_send_recipients", "rejected"): 1,
        ("newsletter_send_requests", "accepted"): 1,
        ("newsletter_send_recipients", "accepted"): 5,
    }


def test_a_failed_request_is_counted(database: Database) -> None:
    """A request refused for good counts once, with every recipient it carried."""
    requests, recipients = (
        counted(n, "failed") for n in ("newsletter_send_requests", "newsletter_send_recipients")
    )
    digest_id, _ = edition_with_readers(database, 4)
    sender = Scripted(raise_(PermanentError("SendGrid refused batch (HTTP 400): bad")))
    send(database, digest_id, sender, batch_size=4)
    assert counted("newsletter_send_requests", "failed") == requests + 1
    assert counted("newsletter_send_recipients", "failed") == recipients + 4
