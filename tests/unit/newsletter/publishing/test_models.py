"""The public change's states: pending until done, failed or given up; those are final."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsletter.errors import TransitionError
from newsletter.publishing.models import TRANSITIONS, ChangeState, PublicChange, can_transition

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
ALLOWED = {
    (ChangeState.PENDING, ChangeState.PENDING),
    (ChangeState.PENDING, ChangeState.DONE),
    (ChangeState.PENDING, ChangeState.FAILED),
    (ChangeState.PENDING, ChangeState.GAVE_UP),
}


@pytest.mark.parametrize("current", list(ChangeState))
@pytest.mark.parametrize("to", list(ChangeState))
def test_transitions_allowed_and_refused(current: ChangeState, to: ChangeState) -> None:
    """Only a pending change moves (a retry keeps it pending); done, failed, gave_up are final."""
    assert can_transition(current, to) is ((current, to) in ALLOWED)
    change = PublicChange(id=1, state=current)
    if (current, to) in ALLOWED:
        change.move(to, NOW)
        assert change.state is to
        assert change.finished_at == (None if to is ChangeState.PENDING else NOW)
    else:
        with pytest.raises(TransitionError, match=f"from {current.value} to {to.value}"):
            change.move(to, NOW)


def test_every_state_has_a_row() -> None:
    """The transition table names every state."""
    assert set(TRANSITIONS) == set(ChangeState)
