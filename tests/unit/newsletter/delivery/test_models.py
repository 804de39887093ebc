"""The delivery and batch state machines: final states, and the sources UPDATEs allow."""

from __future__ import annotations

import pytest

from newsletter.delivery.models import (
    BATCH_TRANSITIONS,
    DELIVERY_TRANSITIONS,
    BatchState,
    DeliveryState,
    can_move,
    sources,
)
from newsletter.errors import TransitionError

D = DeliveryState
B = BatchState


@pytest.mark.parametrize(
    ("current", "target"),
    [(c, t) for c in DeliveryState for t in DeliveryState],
)
def test_delivery_moves_follow_the_table(current: DeliveryState, target: DeliveryState) -> None:
    """A delivery may move exactly when the table lists the move."""
    assert can_move(current, target) is (target in DELIVERY_TRANSITIONS[current])


def test_final_states_are_final() -> None:
    """Bounced and dropped deliveries never change again; failed only by resend, skipped only
    by the same-day catch-up (a reader who confirmed later), both back to queued."""
    for state in (D.BOUNCED, D.DROPPED):
        assert not DELIVERY_TRANSITIONS[state]
    assert DELIVERY_TRANSITIONS[D.FAILED] == {D.QUEUED}
    assert DELIVERY_TRANSITIONS[D.SKIPPED] == {D.QUEUED}
    assert not BATCH_TRANSITIONS[B.ACCEPTED]
    assert not BATCH_TRANSITIONS[B.FAILED]


def test_events_may_overtake_the_recorded_answer() -> None:
    """A claimed recipient may go straight to delivered: the event proves acceptance."""
    assert can_move(D.CLAIMED, D.DELIVERED)
    assert not can_move(D.QUEUED, D.DELIVERED)


@pytest.mark.parametrize("target", list(DeliveryState))
def test_delivery_sources_invert_the_table(target: DeliveryState) -> None:
    """The sources of a delivery state are exactly the states whose table entry lists it."""
    expected = {state for state in DeliveryState if can_move(state, target)}
    assert set(sources(target)) == expected


@pytest.mark.parametrize("target", list(BatchState))
def test_batch_sources_invert_the_table(target: BatchState) -> None:
    """The sources of a batch state are exactly the states whose table entry lists it."""
    expected = {state for state in BatchState if target in BATCH_TRANSITIONS[state]}
    assert set(sources(target)) == expected
    assert all(isinstance(state, BatchState) for state in sources(target))


def test_sources_examples() -> None:
    """Only queued recipients can be claimed; a sending, scheduled or unknown batch is accepted."""
    assert sources(D.CLAIMED) == [D.QUEUED]
    assert sources(B.ACCEPTED) == [B.SENDING, B.SCHEDULED, B.UNKNOWN]
    assert sources(D.SKIPPED) == []
    assert sources(D.QUEUED, among=[D.SKIPPED]) == [D.SKIPPED]


def test_sources_can_be_narrowed_to_allowed_states() -> None:
    """A caller may move from fewer states than the table allows, in table order."""
    assert sources(B.PLANNED, among=[B.UNKNOWN]) == [B.UNKNOWN]
    assert sources(B.FAILED, among=[B.UNKNOWN, B.SENDING]) == [B.SENDING, B.UNKNOWN]
    assert sources(D.QUEUED, among=[]) == []


@pytest.mark.parametrize(
    ("target", "among", "message"),
    [
        (B.PLANNED, [B.ACCEPTED], "a accepted batch cannot become planned"),
        (D.DELIVERED, [D.QUEUED], "a queued delivery cannot become delivered"),
    ],
)
def test_narrowing_to_a_forbidden_source_is_refused(
    target: DeliveryState | BatchState, among: list[DeliveryState] | list[BatchState], message: str
) -> None:
    """Naming a source the table forbids raises TransitionError instead of widening an UPDATE."""
    with pytest.raises(TransitionError, match=message):
        sources(target, among=among)  # type: ignore[type-var]


def test_only_resend_leaves_failed_and_only_back_to_queued() -> None:
    """Failed may become queued (resend of a transient failure) and nothing else."""
    assert sources(D.QUEUED, among=[D.FAILED]) == [D.FAILED]
    assert [state for state in DeliveryState if can_move(D.FAILED, state)] == [D.QUEUED]
    with pytest.raises(TransitionError, match="a failed delivery cannot become claimed"):
        sources(D.CLAIMED, among=[D.FAILED])
