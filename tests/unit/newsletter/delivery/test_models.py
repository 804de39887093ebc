"""The delivery and batch state machines allow exactly the moves in their tables."""

from __future__ import annotations

import pytest

from newsletter.delivery.models import (
    BATCH_TRANSITIONS,
    DELIVERY_TRANSITIONS,
    BatchState,
    DeliveryState,
    batch_sources,
    can_move,
    check_move,
    check_move_batch,
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
    """Every delivery move is allowed exactly when the table lists it."""
    if target in DELIVERY_TRANSITIONS[current]:
        check_move(current, target)
    else:
        with pytest.raises(TransitionError, match=f"{current.value} delivery"):
            check_move(current, target)


@pytest.mark.parametrize(("current", "target"), [(c, t) for c in BatchState for t in BatchState])
def test_batch_moves_follow_the_table(current: BatchState, target: BatchState) -> None:
    """Every batch move is allowed exactly when the table lists it."""
    if target in BATCH_TRANSITIONS[current]:
        check_move_batch(current, target)
    else:
        with pytest.raises(TransitionError, match=f"{current.value} batch"):
            check_move_batch(current, target)


def test_final_states_are_final() -> None:
    """Skipped, failed, bounced and dropped deliveries never change again."""
    for state in (D.SKIPPED, D.FAILED, D.BOUNCED, D.DROPPED):
        assert not DELIVERY_TRANSITIONS[state]
    assert not BATCH_TRANSITIONS[B.ACCEPTED]
    assert not BATCH_TRANSITIONS[B.FAILED]


def test_events_may_overtake_the_recorded_answer() -> None:
    """A claimed recipient may go straight to delivered: the event proves acceptance."""
    assert can_move(D.CLAIMED, D.DELIVERED)
    assert not can_move(D.QUEUED, D.DELIVERED)


def test_sources_invert_the_tables() -> None:
    """The helpers for conditional UPDATEs list exactly the states that may reach a target."""
    assert set(sources(D.CLAIMED)) == {D.QUEUED}
    assert set(batch_sources(B.ACCEPTED)) == {B.SENDING, B.UNKNOWN}
