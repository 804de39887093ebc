"""The ledger plans each subscriber once, and a batch can be claimed by one worker only."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter.db import Database
from newsletter.delivery import cells, ledger, recording, roster
from newsletter.delivery.models import BatchState, Delivery, DeliveryState, SendBatch
from newsletter.digests.models import Digest, DigestState
from newsletter.digests.services import get_digest
from newsletter.errors import NotFoundError, TransitionError
from subscribers.models import Subscription, SubscriptionState, Suppression, SuppressionReason
from subscribers.personal_data import erase
from subscribers.suppression import suppress
from tests.unit.newsletter.delivery.dispatch_factories import (
    NOW,
    add_subscribers,
    batch_states,
    edition_with_readers,
    rendered_digest,
    states,
)

LEASE = timedelta(minutes=5)


def plan(database: Database, digest_id: int, **kwargs: object) -> ledger.PlanResult:
    with database.session() as session:
        return ledger.plan_dispatch(session, digest_id, now=NOW, **kwargs)  # type: ignore[arg-type]


def claim_first(database: Database, digest_id: int, **plan_args: object) -> ledger.Claim:
    """Plan the edition, then claim its first due batch, committed, as a worker would."""
    plan(database, digest_id, **plan_args)
    with database.session() as session:
        batch_id = ledger.next_due_batch(session, digest_id, NOW)
        assert batch_id is not None
        claim = ledger.claim_batch(session, batch_id, now=NOW, lease=LEASE)
    assert claim is not None
    return claim


def test_plan_queues_each_subscriber_once(any_database: Database) -> None:
    """Planning twice puts each reader in the ledger once; the rerun counts them as already sent."""
    digest_id, _ = edition_with_readers(any_database, 25)
    first = plan(any_database, digest_id, batch_size=10, page=7)
    assert (first.batches, first.queued) == (3, 25)
    again = plan(any_database, digest_id, batch_size=10, page=7)
    assert (again.batches, again.queued) == (0, 0)
    assert again.skipped == {"already_sent": 25}
    assert states(any_database, digest_id) == {"queued": 25}
    with any_database.session() as session:
        sizes = session.scalars(select(SendBatch.size).order_by(SendBatch.number)).all()
        assert list(sizes) == [10, 10, 5]
        assert session.get(Digest, digest_id).state is DigestState.SENDING  # type: ignore[union-attr]


def test_plan_adds_late_subscribers_in_new_batches(any_database: Database) -> None:
    """A subscriber who joined after planning is added, in a batch numbered after the others."""
    digest_id, list_id = edition_with_readers(any_database, 3)
    plan(any_database, digest_id)
    with any_database.session() as session:
        add_subscribers(session, list_id, 2, start=100)
    result = plan(any_database, digest_id)
    assert (result.batches, result.queued) == (1, 2)
    assert batch_states(any_database, digest_id) == ["planned", "planned"]


def test_plan_records_every_skip_reason(any_database: Database) -> None:
    """Pending, unsubscribed, suppressed, paused and off-topic readers are skipped with a reason."""
    with any_database.session() as session:
        digest_id, list_id = rendered_digest(session, topics=("Science",))
        add_subscribers(session, list_id, 2)
        add_subscribers(session, list_id, 1, start=10, state=SubscriptionState.PENDING)
        add_subscribers(session, list_id, 1, start=20, state=SubscriptionState.UNSUBSCRIBED)
        add_subscribers(session, list_id, 1, start=30, paused_until=NOW + timedelta(days=3))
        add_subscribers(session, list_id, 1, start=40, topics=("Sport",))
        add_subscribers(session, list_id, 1, start=50, topics=("science",))
        suppress(session, "reader2@example.org", SuppressionReason.HARD_BOUNCE)
    result = plan(any_database, digest_id)
    assert result.queued == 2
    assert result.skipped == {
        "suppressed": 1,
        "unconfirmed": 1,
        "unsubscribed": 1,
        "paused": 1,
        "no_matching_topic": 1,
    }
    with any_database.session() as session:
        reasons = session.scalars(
            select(Delivery.skip_reason).where(Delivery.state == DeliveryState.SKIPPED)
        ).all()
        assert sorted(r.value for r in reasons if r) == sorted(result.skipped)


def test_plan_refuses_unrendered_or_missing_digests(database: Database) -> None:
    """Only a rendered edition can be sent; an unknown id names itself."""
    digest_id, _ = edition_with_readers(database, 1)
    with database.session() as session:
        session.get(Digest, digest_id).state = DigestState.CANCELLED  # type: ignore[union-attr]
    with pytest.raises(TransitionError, match="cancelled: it cannot be sent"):
        plan(database, digest_id)
    with pytest.raises(NotFoundError, match="unknown digest 999"):
        plan(database, 999)


def test_claim_commits_recipients_as_claimed(any_database: Database) -> None:
    """Claiming a batch marks it sending with a lease and its recipients claimed."""
    digest_id, _ = edition_with_readers(any_database, 4)
    claim = claim_first(any_database, digest_id, batch_size=2)
    batch_id = claim.batch_id
    assert claim.attempts == 1
    assert claim.number == 1
    assert states(any_database, digest_id) == {"claimed": 2, "queued": 2}
    with any_database.session() as session:
        batch = session.get(SendBatch, batch_id)
        assert batch is not None
        assert batch.lease_until == NOW + LEASE
        people, gone = ledger.addressees(session, batch_id)
    assert [p.email for p in people] == ["reader1@example.org", "reader2@example.org"]
    assert not gone


def test_a_batch_is_claimed_once_even_by_racing_threads(any_database: Database) -> None:
    """Of many workers claiming the same batch at once, exactly one wins."""
    digest_id, _ = edition_with_readers(any_database, 3)
    plan(any_database, digest_id)
    with any_database.session() as session:
        batch_id = ledger.next_due_batch(session, digest_id, NOW)
    assert batch_id is not None
    barrier = threading.Barrier(6)
    wins: list[object] = []

    def race() -> None:
        barrier.wait()
        with any_database.session() as session:
            claim = ledger.claim_batch(session, batch_id, now=NOW, lease=LEASE)
        if claim is not None:
            wins.append(claim)

    threads = [threading.Thread(target=race) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1


def test_postponed_batch_is_not_due_until_its_time(database: Database) -> None:
    """A batch waiting for a retry is neither due nor claimable before ``not_before``."""
    digest_id, _ = edition_with_readers(database, 1)
    claim = claim_first(database, digest_id)
    batch_id = claim.batch_id
    with database.session() as session:
        later = NOW + timedelta(seconds=30)
        assert recording.record_retry(session, claim, "429", not_before=later, now=NOW)
    with database.session() as session:
        assert ledger.next_due_batch(session, digest_id, NOW) is None
        assert ledger.claim_batch(session, batch_id, now=NOW, lease=LEASE) is None
        assert ledger.next_wake_up(session, digest_id) == later
        assert ledger.next_due_batch(session, digest_id, later) == batch_id
    assert states(database, digest_id) == {"queued": 1}


def test_a_lost_claim_records_nothing(database: Database) -> None:
    """A worker whose claim was taken over cannot record an outcome over the new one."""
    digest_id, _ = edition_with_readers(database, 2)
    claim = claim_first(database, digest_id)
    stale = ledger.Claim(claim.batch_id, claim.digest_id, claim.number, 1, 0, "someone-else")
    with database.session() as session:
        assert not recording.record_accepted(session, stale, "x", now=NOW)
        assert not recording.record_failed(session, stale, "x", now=NOW)
        assert not recording.record_unknown(session, stale, "x", now=NOW)
        assert not recording.record_retry(session, stale, "x", not_before=NOW, now=NOW)
    assert batch_states(database, digest_id) == ["sending"]
    assert states(database, digest_id) == {"claimed": 2}


def test_a_lost_claim_fails_no_recipient(database: Database) -> None:
    """A worker whose claim was taken over cannot fail recipients of the new claim."""
    digest_id, _ = edition_with_readers(database, 2)
    claim = claim_first(database, digest_id)
    with database.session() as session:
        ids = session.scalars(select(Delivery.subscriber_id)).all()
    stale = ledger.Claim(claim.batch_id, claim.digest_id, claim.number, 1, 0, "someone-else")
    with database.session() as session:
        recording.fail_recipients(session, stale, dict.fromkeys(ids, "rejected"), now=NOW)
    assert states(database, digest_id) == {"claimed": 2}
    with database.session() as session:
        recording.fail_recipients(session, claim, {ids[0]: "rejected"}, now=NOW)
    assert states(database, digest_id) == {"claimed": 1, "failed": 1}


def test_answer_recorded_after_an_event_confirmed_the_batch(database: Database) -> None:
    """When SendGrid's event confirms a batch first, the worker's answer still keeps its id."""
    from newsletter.delivery.reconcile import confirm_batch

    digest_id, _ = edition_with_readers(database, 2)
    claim = claim_first(database, digest_id)
    batch_id = claim.batch_id
    with database.session() as session:
        assert confirm_batch(session, batch_id, now=NOW)
    with database.session() as session:
        assert recording.record_accepted(session, claim, "msg-123", now=NOW)
    with database.session() as session:
        batch = session.get(SendBatch, batch_id)
        assert batch is not None
        assert (batch.state, batch.provider_id) == (BatchState.ACCEPTED, "msg-123")
        ids = set(session.scalars(select(Delivery.provider_id)))
        assert ids == {"msg-123"}
    assert states(database, digest_id) == {"accepted": 2}


def test_erased_subscriber_is_reported_apart(database: Database) -> None:
    """A subscriber erased after planning is not addressed; the ledger names them."""
    digest_id, _ = edition_with_readers(database, 2)
    batch_id = claim_first(database, digest_id).batch_id
    with database.session() as session:
        session.execute(Subscription.__table__.delete())
        from subscribers.models import Subscriber

        session.execute(Subscriber.__table__.delete().where(Subscriber.email.like("reader1@%")))
    with database.session() as session:
        people, gone = ledger.addressees(session, batch_id)
    assert [p.email for p in people] == ["reader2@example.org"]
    assert len(gone) == 1
    with database.session() as session:
        assert session.scalar(select(SendBatch.state)) is BatchState.SENDING


def test_many_skips_are_written_in_chunks(any_database: Database) -> None:
    """More skipped subscribers than one insert holds are all recorded, then statistics refresh."""
    with any_database.session() as session:
        digest_id, list_id = rendered_digest(session)
        add_subscribers(session, list_id, cells.INSERT_ROWS + 5, state=SubscriptionState.PENDING)
    result = plan(any_database, digest_id)
    assert result.skipped == {"unconfirmed": cells.INSERT_ROWS + 5}
    with any_database.session() as session:
        ledger.refresh_statistics(session)
    assert states(any_database, digest_id) == {"skipped": cells.INSERT_ROWS + 5}


def test_planning_a_sent_edition_adds_nothing(database: Database) -> None:
    """An edition that a concurrent dispatch already finished is left as it is."""
    digest_id, _ = edition_with_readers(database, 2)
    with database.session() as session:
        session.get(Digest, digest_id).state = DigestState.SENT  # type: ignore[union-attr]
    assert plan(database, digest_id) == ledger.PlanResult(digest_id, batches=0, queued=0)
    with database.session() as session, pytest.raises(NotFoundError, match="unknown digest 77"):
        get_digest(session, 77)


def test_an_erased_suppression_still_skips_the_address(any_database: Database) -> None:
    """Suppressions match by address hash, so one whose address was erased still applies."""
    with any_database.session() as session:
        digest_id, list_id = rendered_digest(session)
        suppress(session, "Reader1@Example.org", SuppressionReason.HARD_BOUNCE)
        add_subscribers(session, list_id, 1)
    with any_database.session() as session:
        erase(session, "reader1@example.org")
    with any_database.session() as session:
        entry = session.scalars(select(Suppression)).one()
        assert (entry.email, entry.reason) == (None, SuppressionReason.HARD_BOUNCE)
        # The address comes back by a way that does not check the list (an old import).
        add_subscribers(session, list_id, 2)
    result = plan(any_database, digest_id)
    assert (result.queued, result.skipped) == (1, {"suppressed": 1})


def test_get_digest_can_reread_and_lock(database: Database) -> None:
    """``populate`` re-reads a digest changed behind the session's back; ``lock`` still finds it."""
    digest_id, _ = edition_with_readers(database, 1)
    with database.session() as session:
        digest = get_digest(session, digest_id)
        with database.session() as other:
            other.get(Digest, digest_id).state = DigestState.CANCELLED  # type: ignore[union-attr]
        assert get_digest(session, digest_id).state is DigestState.RENDERED
        assert get_digest(session, digest_id, populate=True) is digest
        assert digest.state is DigestState.CANCELLED
        assert get_digest(session, digest_id, lock=True) is digest


def _batches(database: Database, digest_id: int) -> list[tuple[int, int, int]]:
    """(number, size, deliveries in it) of each batch, by number."""
    with database.session() as session:
        rows = session.execute(
            select(SendBatch.number, SendBatch.size, SendBatch.id)
            .where(SendBatch.digest_id == digest_id)
            .order_by(SendBatch.number)
        ).all()
        return [
            (
                number,
                size,
                len(
                    session.scalars(select(Delivery.id).where(Delivery.batch_id == batch_id)).all()
                ),
            )
            for number, size, batch_id in rows
        ]


def _queued_once(database: Database, digest_id: int, expected: set[int]) -> None:
    with database.session() as session:
        queued = session.scalars(
            select(Delivery.subscriber_id).where(
                Delivery.digest_id == digest_id, Delivery.state == DeliveryState.QUEUED
            )
        ).all()
    assert sorted(queued) == sorted(expected)


def test_bulk_readers_fill_batches_in_order_then_the_rest_follow(any_database: Database) -> None:
    """Readers who get the whole edition are queued in bulk, in full batches in id order.

    Plain readers and readers whose topics keep every briefing get the same email, so
    they share batches; paused, suppressed and off-topic readers are left to the
    Python pass, which records them skipped. Batch numbers run 1, 2, 3 without gaps.
    """
    with any_database.session() as session:
        digest_id, list_id = rendered_digest(session, topics=("Science",))
        plain = add_subscribers(session, list_id, 23)
        on_topic = add_subscribers(session, list_id, 4, start=100, topics=("science",))
        add_subscribers(session, list_id, 12, start=200, paused_until=NOW + timedelta(days=1))
        add_subscribers(session, list_id, 1, start=300, topics=("Sport",))
        suppress(session, "reader5@example.org", SuppressionReason.HARD_BOUNCE)
    result = plan(any_database, digest_id, batch_size=10)
    assert (result.batches, result.queued) == (3, 26)
    assert result.skipped == {"paused": 12, "suppressed": 1, "no_matching_topic": 1}
    assert _batches(any_database, digest_id) == [(1, 10, 10), (2, 10, 10), (3, 6, 6)]
    _queued_once(any_database, digest_id, (set(plain) - {plain[4]}) | set(on_topic))
    with any_database.session() as session:
        first = session.scalars(
            select(Delivery.subscriber_id)
            .join(SendBatch, SendBatch.id == Delivery.batch_id)
            .where(SendBatch.digest_id == digest_id, SendBatch.number == 1)
        ).all()
    assert sorted(first) == [n for n in plain if n != plain[4]][:10]


@pytest.mark.parametrize(
    ("helper", "stand_in", "sizes"),
    [
        # A stale count: the bulk step queues the 12 it counted and leaves the rest.
        ("bulk_groups", lambda *args: [("UTC", "[]", "", 12)], [10, 2, 10, 3]),
        # Readers left between the count and the insert: short batches get their true
        # size and the one left empty is dropped.
        ("bulk_groups", lambda *args: [("UTC", "[]", "", 40)], [10, 10, 5]),
        # Another planner drew batch ids in between: the bulk step backs out entirely.
        ("_consecutive", lambda ids: False, [10, 10, 5]),
    ],
    ids=["stale-count", "count-too-high", "ids-not-consecutive"],
)
def test_what_the_bulk_step_leaves_the_python_pass_plans_once(
    any_database: Database,
    monkeypatch: pytest.MonkeyPatch,
    helper: str,
    stand_in: object,
    sizes: list[int],
) -> None:
    """However little the bulk step queues, every reader ends up queued exactly once."""
    digest_id, list_id = edition_with_readers(any_database, 25)
    monkeypatch.setattr(roster, helper, stand_in)
    result = plan(any_database, digest_id, batch_size=10)
    assert (result.batches, result.queued) == (len(sizes), 25)
    expected = [(number, size, size) for number, size in enumerate(sizes, start=1)]
    assert _batches(any_database, digest_id) == expected
    with any_database.session() as session:
        readers = session.scalars(
            select(Subscription.subscriber_id).where(Subscription.list_id == list_id)
        ).all()
    _queued_once(any_database, digest_id, set(readers))


def test_a_batch_size_out_of_range_is_refused_before_anything_is_written(
    database: Database,
) -> None:
    """Batch sizes must be 1 to 1000; a wrong one changes nothing."""
    digest_id, _ = edition_with_readers(database, 3)
    for size in (0, 1001):
        with pytest.raises(ValueError, match="batch_size must be between 1 and 1000"):
            plan(database, digest_id, batch_size=size)
    assert states(database, digest_id) == {}
    with database.session() as session:
        assert get_digest(session, digest_id).state is DigestState.RENDERED


def test_consecutive_ids_are_recognised() -> None:
    """Only ids that count up by one, with no gap, let the bulk step compute batches."""
    assert roster._consecutive([7, 8, 9])
    assert roster._consecutive([4])
    assert not roster._consecutive([7, 9, 10])
    assert not roster._consecutive([9, 8])


def test_a_pause_that_has_ended_does_not_hold_a_reader_back(any_database: Database) -> None:
    """Paused until yesterday: queued with everyone else; paused until tomorrow: skipped."""
    with any_database.session() as session:
        digest_id, list_id = rendered_digest(session)
        back = add_subscribers(session, list_id, 2, paused_until=NOW - timedelta(days=1))
        add_subscribers(session, list_id, 1, start=50, paused_until=NOW + timedelta(days=1))
    result = plan(any_database, digest_id)
    assert (result.queued, result.skipped) == (2, {"paused": 1})
    _queued_once(any_database, digest_id, set(back))
