"""The editorial state machine allows exactly the transitions in its table."""

from __future__ import annotations

import pytest

from newsletter.briefings.models import BriefingState
from newsletter.briefings.workflow import TRANSITIONS, Action, next_state
from newsletter.errors import TransitionError

ALLOWED = {
    (BriefingState.DRAFT, Action.APPROVE): BriefingState.APPROVED,
    (BriefingState.DRAFT, Action.REJECT): BriefingState.REJECTED,
    (BriefingState.DRAFT, Action.REVISE): BriefingState.DRAFT,
    (BriefingState.APPROVED, Action.WITHDRAW): BriefingState.WITHDRAWN,
    (BriefingState.APPROVED, Action.REVISE): BriefingState.DRAFT,
    (BriefingState.REJECTED, Action.REVISE): BriefingState.DRAFT,
    (BriefingState.WITHDRAWN, Action.REVISE): BriefingState.DRAFT,
}


def test_table_is_the_documented_one() -> None:
    """The transition table holds the documented moves and nothing else."""
    assert TRANSITIONS == ALLOWED


@pytest.mark.parametrize(("state", "action"), list(ALLOWED))
def test_allowed_transitions(state: BriefingState, action: Action) -> None:
    """Every allowed move leads to its documented state."""
    assert next_state(state, action, has_live_revision=False) is ALLOWED[(state, action)]


# Allowed from every state: a takedown ends withdrawn, the others keep the state.
ANY_STATE = {Action.TAKEDOWN, Action.EXPIRE, Action.CONFIRM_TITLE}


@pytest.mark.parametrize("state", list(BriefingState))
def test_takedown_expiry_and_title_confirmation_from_any_state(state: BriefingState) -> None:
    """A takedown always withdraws; an expiry or a title confirmation leaves the state."""
    assert next_state(state, Action.TAKEDOWN, has_live_revision=False) is BriefingState.WITHDRAWN
    assert next_state(state, Action.EXPIRE, has_live_revision=True) is state
    assert next_state(state, Action.CONFIRM_TITLE, has_live_revision=False) is state


REFUSED = [
    (state, action)
    for state in BriefingState
    for action in Action
    if (state, action) not in ALLOWED and action not in ANY_STATE and action is not Action.CREATE
]


@pytest.mark.parametrize(("state", "action"), REFUSED)
def test_refused_transitions(state: BriefingState, action: Action) -> None:
    """Every other move is refused with a message naming the action and the state."""
    if action is Action.WITHDRAW and state in (BriefingState.DRAFT, BriefingState.REJECTED):
        live = False  # withdrawing these is refused only when nothing is live
    else:
        live = True
    with pytest.raises(
        TransitionError, match=f"cannot {action.value} a briefing that is {state.value}"
    ):
        next_state(state, action, has_live_revision=live)


@pytest.mark.parametrize("state", [BriefingState.DRAFT, BriefingState.REJECTED])
def test_withdraw_while_an_approved_revision_is_live(state: BriefingState) -> None:
    """A draft or rejected revision over a live approved one can still be withdrawn."""
    assert next_state(state, Action.WITHDRAW, has_live_revision=True) is BriefingState.WITHDRAWN
