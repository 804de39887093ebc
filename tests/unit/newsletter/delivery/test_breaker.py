"""The provider's circuit breaker, shared through the database, and the batches' deadline."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from newsletter.db import Database
from newsletter.delivery import breaker, deadline, services
from newsletter.delivery.breaker import BreakerPolicy, Gate
from newsletter.delivery.models import Delivery, FailureKind, SendBatch
from newsletter.digests.models import Digest
from newsletter.pipeline import steps
from newsletter.schedules.models import EditionKind, EditionState, ScheduledEdition
from tests.unit.newsletter.delivery.dispatch_factories import NOW, edition_with_readers

POLICY = BreakerPolicy(
    threshold=3, probe_interval=timedelta(seconds=5), max_probe_interval=timedelta(seconds=15)
)
LEASE = timedelta(minutes=5)
NAME = breaker.EMAIL


def fail(database: Database, seconds: float = 0, retry_after: float | None = None) -> object:
    """Record one transient failure at NOW + seconds, in its own transaction (a worker)."""
    with database.session() as session:
        at = NOW + timedelta(seconds=seconds)
        return breaker.record_failure(
            session, NAME, at, "connection refused", policy=POLICY, retry_after=retry_after
        )


def test_breaker_opens_after_consecutive_failures_across_workers(any_database: Database) -> None:
    """Below the threshold it stays closed; the third failure opens it for one interval."""
    assert fail(any_database) is None
    assert fail(any_database) is None
    assert fail(any_database) == NOW + timedelta(seconds=5)
    with any_database.session() as session:
        assert breaker.gate(session, NAME, NOW) is Gate.OPEN
        assert breaker.admit(session, NAME, NOW, lease=LEASE).wait_until == NOW + timedelta(
            seconds=5
        )
        assert breaker.gate(session, NAME, NOW + timedelta(seconds=5)) is Gate.PROBE


def test_one_probe_at_a_time_and_success_closes(any_database: Database) -> None:
    """Once the probe time passes exactly one caller is let through; a success closes it."""
    for _ in range(3):
        fail(any_database)
    later = NOW + timedelta(seconds=6)
    with any_database.session() as session:
        first = breaker.admit(session, NAME, later, lease=LEASE)
    with any_database.session() as session:
        second = breaker.admit(session, NAME, later, lease=LEASE)
        assert breaker.gate(session, NAME, later) is Gate.OPEN  # the probe is in flight
    assert first.allowed
    assert first.probe
    assert not second.allowed
    assert second.wait_until == later + LEASE
    with any_database.session() as session:
        assert breaker.record_success(session, NAME, later) is True
        assert breaker.gate(session, NAME, later) is Gate.CLOSED
        assert breaker.admit(session, NAME, later, lease=LEASE).allowed
        assert breaker.record_success(session, NAME, later) is False  # nothing to close


def test_failed_probe_doubles_the_wait_up_to_the_cap(any_database: Database) -> None:
    """Each failure while open pushes the next probe twice as far, never past the maximum."""
    for _ in range(3):
        fail(any_database)
    assert fail(any_database, 6) == NOW + timedelta(seconds=16)
    assert fail(any_database, 17) == NOW + timedelta(seconds=32)  # capped at 15 s
    with any_database.session() as session:
        released = NOW + timedelta(seconds=40)
        assert breaker.admit(session, NAME, released, lease=LEASE).probe
        breaker.release_probe(session, NAME, released)
        assert breaker.gate(session, NAME, released) is Gate.PROBE


def test_a_rate_limit_reset_holds_the_probe_back(any_database: Database) -> None:
    """An X-RateLimit-Reset later than the interval decides when the breaker probes."""
    fail(any_database)
    fail(any_database)
    assert fail(any_database, retry_after=90) == NOW + timedelta(seconds=90)


def test_plan_sets_the_deadline_from_the_scheduled_edition(database: Database) -> None:
    """deliver_by is the scheduled time plus the window, or now plus the window by hand."""
    digest_id, _ = edition_with_readers(database, 2)
    with database.session() as session:
        assert steps.deadline_for(
            session, digest_id, now=NOW, window=timedelta(hours=1)
        ) == NOW + timedelta(hours=1)
        digest = session.get(Digest, digest_id)
        assert digest is not None
        session.add(
            ScheduledEdition(
                publication=digest.publication,
                edition_date=digest.edition_date,
                due_at=NOW - timedelta(minutes=30),
                kind=EditionKind.ONCE,
                state=EditionState.STARTED,
                digest_id=digest_id,
                started_at=NOW,
            )
        )
    options = services.DispatchOptions(batch_size=1, freshness_window=timedelta(hours=3))
    steps.plan(database, digest_id, options=options, clock=lambda: NOW)
    with database.session() as session:
        assert set(session.scalars(select(SendBatch.deliver_by))) == {
            NOW + timedelta(hours=2, minutes=30)
        }
        later = NOW + timedelta(hours=1)
        assert deadline.set_deadline(session, digest_id, later) == 0  # only unset ones


def test_batches_waiting_on_trouble_expire_at_their_deadline(database: Database) -> None:
    """A batch held by the breaker past deliver_by fails transient; one merely late does not."""
    digest_id, _ = edition_with_readers(database, 2)
    options = services.DispatchOptions(batch_size=1, freshness_window=timedelta(minutes=10))
    steps.plan(database, digest_id, options=options, clock=lambda: NOW)
    with database.session() as session:
        held = deadline.hold_planned(session, NOW + timedelta(minutes=20), now=NOW)
        assert held == 2
        first = session.scalars(select(SendBatch).order_by(SendBatch.number)).first()
        assert first is not None
        first.error = None  # never troubled: merely not reached yet
    with database.session() as session:
        assert deadline.expire_overdue(session, now=NOW + timedelta(minutes=5)) == 0
        assert deadline.expire_overdue(session, now=NOW + timedelta(minutes=11)) == 1
    with database.session() as session:
        rows = session.execute(select(Delivery.state, Delivery.failure, Delivery.last_error)).all()
    failed = [row for row in rows if row.failure is not None]
    assert len(failed) == 1
    assert failed[0].failure is FailureKind.TRANSIENT
    assert "deadline passed" in failed[0].last_error
