"""The subscription state machine: every allowed move, every refused one."""

from __future__ import annotations

import itertools

import pytest

from newsletter.errors import TransitionError
from subscribers.models import TRANSITIONS, SubscriptionState, check_transition

S = SubscriptionState
ALLOWED = {
    (S.PENDING, S.CONFIRMED),
    (S.PENDING, S.UNSUBSCRIBED),
    (S.PENDING, S.EXPIRED),
    (S.CONFIRMED, S.UNSUBSCRIBED),
    (S.UNSUBSCRIBED, S.PENDING),
    (S.UNSUBSCRIBED, S.CONFIRMED),
    (S.EXPIRED, S.PENDING),
    (S.EXPIRED, S.CONFIRMED),
}


def test_table_is_exactly_the_documented_moves() -> None:
    """The transition table allows these eight moves and nothing else."""
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_moves_pass(current: S, target: S) -> None:
    """Each allowed move is accepted."""
    check_transition(current, target)


REFUSED = sorted(set(itertools.product(S, S)) - ALLOWED)


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_refused_moves_raise(current: S, target: S) -> None:
    """Every other move, including staying put, raises TransitionError naming both states."""
    with pytest.raises(TransitionError, match=f"{current.value}.*{target.value}"):
        check_transition(current, target)
