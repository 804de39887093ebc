"""The SendGrid test server's schedule and fault plan, judged on a hand-moved clock."""

from __future__ import annotations

import pytest

from newsletter.sendgrid_testserver.faults import Endpoint, Fault, FaultKind, FaultPlan, fault_named
from newsletter.sendgrid_testserver.schedule import (
    PAUSE_EXPIRY,
    AcceptedRequest,
    MessageStatus,
    Schedule,
)


class Clock:
    """A clock that moves only when told."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def request(*due: float, batch_id: str | None = None) -> AcceptedRequest:
    """An accepted request with one personalization per due time."""
    payload = {
        "personalizations": [{"to": [{"email": f"r{n}@x.example"}]} for n in range(len(due))]
    }
    return AcceptedRequest("m1", payload, 0.0, batch_id=batch_id, due=list(due))


def test_messages_are_released_in_due_order_and_next_due_says_when() -> None:
    """next_due names the earliest held message; release_due sends only what is due."""
    clock = Clock()
    schedule = Schedule(clock)
    accepted = request(1300.0, 1100.0)
    schedule.accept(accepted)
    assert schedule.next_due() == 1100.0
    clock.now = 1100.0
    ((released, indexes),) = schedule.release_due()
    assert (released, indexes) == (accepted, [1])
    assert accepted.statuses == [MessageStatus.HELD, MessageStatus.RELEASED]
    assert schedule.release_due() == []
    clock.now = 2000.0
    schedule.release_due()
    assert (accepted.status, schedule.next_due(), schedule.held_count()) == ("released", None, 0)
    assert schedule.counts(MessageStatus.RELEASED) == {"r0@x.example": 1, "r1@x.example": 1}


def test_a_past_due_time_counts_as_now_and_sets_the_batch_send_at() -> None:
    """Due times in the past are moved to now; the batch's send_at is its earliest message's."""
    clock = Clock()
    schedule = Schedule(clock)
    batch_id = schedule.create_batch()
    schedule.accept(request(5000.0, batch_id=batch_id))
    schedule.accept(request(10.0, batch_id=batch_id))
    assert schedule.send_at(batch_id) == 1000.0
    assert schedule.known(batch_id)
    assert not schedule.known(7)


def test_a_pause_keeps_mail_until_lifted_or_expired() -> None:
    """Kept mail is released when the pause turns into nothing, discarded 72 h after due."""
    clock = Clock()
    schedule = Schedule(clock)
    first, second = schedule.create_batch(), schedule.create_batch()
    kept, expiring = request(1900.0, batch_id=first), request(1900.0, batch_id=second)
    schedule.accept(kept)
    schedule.accept(expiring)
    for batch_id in (first, second):
        assert schedule.add_status({"batch_id": batch_id, "status": "pause"})[0] == 201
    clock.now = 2000.0
    assert schedule.release_due() == []
    assert schedule.next_due() == 1900.0 + PAUSE_EXPIRY
    assert schedule.delete_status(first) == (204, None)
    assert schedule.release_due() == [(kept, [0])]
    clock.now = 1900.0 + PAUSE_EXPIRY
    schedule.release_due()
    assert expiring.statuses == [MessageStatus.DISCARDED]
    assert schedule.counts(MessageStatus.DISCARDED) == {"r0@x.example": 1}


def test_a_pause_turned_cancel_discards_the_kept_mail() -> None:
    """PATCH from pause to cancel puts kept mail back to be discarded."""
    clock = Clock()
    schedule = Schedule(clock)
    batch_id = schedule.create_batch()
    accepted = request(5000.0, batch_id=batch_id)
    schedule.add_status({"batch_id": batch_id, "status": "pause"})
    schedule.accept(accepted)
    assert schedule.update_status(batch_id, {"status": "cancel"}) == (204, None)
    clock.now = 5000.0
    schedule.release_due()
    assert accepted.status == "discarded"


def test_status_requests_that_are_not_objects_are_refused() -> None:
    """A body that is not a JSON object, or a PATCH without a status, gets 400."""
    schedule = Schedule(Clock())
    batch_id = schedule.create_batch()
    assert schedule.add_status(["cancel"])[0] == 400
    schedule.add_status({"batch_id": batch_id, "status": "cancel"})
    assert schedule.update_status(batch_id, None)[0] == 400
    assert schedule.list_statuses() == (200, [{"batch_id": batch_id, "status": "cancel"}])


def test_planned_faults_follow_their_endpoint_and_order() -> None:
    """A planned fault waits for a request to its endpoint; ANY matches every endpoint."""
    plan = FaultPlan()
    plan.inject(Fault.SERVER_ERROR, on=Endpoint.SCHEDULED_SENDS)
    plan.inject(Fault.RATE_LIMIT, count=2, reset_in=5, on=Endpoint.ANY)
    assert plan.next(Endpoint.MAIL_SEND) == (Fault.RATE_LIMIT, 5)
    assert plan.next(Endpoint.SCHEDULED_SENDS) == (Fault.SERVER_ERROR, None)
    assert plan.next(Endpoint.MAIL_BATCH) == (Fault.RATE_LIMIT, 5)
    assert plan.next(Endpoint.MAIL_BATCH) == (None, None)
    with pytest.raises(ValueError, match="count"):
        plan.inject(Fault.SERVER_ERROR, count=0)


def test_a_fault_period_ends_on_the_monotonic_clock_and_comes_first() -> None:
    """During a period its fault wins over planned ones, with the seconds left as reset."""
    clock = Clock(0.0)
    plan = FaultPlan(monotonic=clock)
    plan.inject(Fault.SERVER_ERROR)
    plan.during(Fault.RATE_LIMIT, 30, on=Endpoint.MAIL_SEND)
    clock.now = 10.0
    assert plan.next(Endpoint.MAIL_SEND) == (Fault.RATE_LIMIT, 20.0)
    clock.now = 30.0
    assert plan.next(Endpoint.MAIL_SEND) == (Fault.SERVER_ERROR, None)
    with pytest.raises(ValueError, match="for_seconds"):
        plan.during(Fault.RATE_LIMIT, 0)


def test_random_faults_touch_only_mail_sends() -> None:
    """With rate 1 every mail send gets a random fault and no other endpoint does."""
    plan = FaultPlan(rate=1.0, seed=1, random_faults=[Fault.LATE_ANSWER(9)])
    assert plan.next(Endpoint.MAIL_SEND) == (Fault(FaultKind.LATE_ANSWER, 9.0), 1.0)
    assert plan.next(Endpoint.SCHEDULED_SENDS) == (None, None)
    with pytest.raises(ValueError, match="fault_rate"):
        FaultPlan(rate=1.5)


def test_faults_are_named_by_kind() -> None:
    """fault_named builds each kind, with a delay only where it means something."""
    assert fault_named("slow", 2) == Fault.SLOW(2)
    assert fault_named("rate_limit", 2) == Fault.RATE_LIMIT
    with pytest.raises(ValueError, match="fault kind must be one of"):
        fault_named("meteor")
