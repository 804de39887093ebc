"""The editorial state machine of a briefing, as a table.

``state`` always describes the briefing's *latest* revision; ``approved_revision`` is
the revision editions use. The two differ while a changed revision of an approved
briefing waits for approval again: the older approved revision stays live until the
new one is approved, or until the briefing is withdrawn.

::

    (new) ──create──▶ draft ──approve──▶ approved ──withdraw──▶ withdrawn
                       │  ▲                 │
                       │  └─────revise──────┘  (changed content: needs approval again)
                       ├──reject──▶ rejected ──revise──▶ draft
                       └──revise──▶ draft       withdrawn ──revise──▶ draft

    (any) ──takedown──▶ withdrawn   (a legal request; it can never be approved again)

A draft or rejected briefing that still has an approved revision live may also be
withdrawn, which takes that revision out of every later edition.
"""

from __future__ import annotations

from enum import StrEnum

from newsletter.briefings.models import BriefingState
from newsletter.errors import TransitionError


class Action(StrEnum):
    """Something that changes a briefing's state, as recorded in the audit trail."""

    CREATE = "create"
    REVISE = "revise"
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    TAKEDOWN = "takedown"
    EXPIRE = "expire"
    CONFIRM_TITLE = "confirm_title"


_D, _A, _R, _W = (
    BriefingState.DRAFT,
    BriefingState.APPROVED,
    BriefingState.REJECTED,
    BriefingState.WITHDRAWN,
)

TRANSITIONS: dict[tuple[BriefingState, Action], BriefingState] = {
    (_D, Action.APPROVE): _A,
    (_D, Action.REJECT): _R,
    (_D, Action.REVISE): _D,
    (_A, Action.WITHDRAW): _W,
    (_A, Action.REVISE): _D,
    (_R, Action.REVISE): _D,
    (_W, Action.REVISE): _D,
}

# Withdrawing is also allowed from these states while an approved revision is live.
_WITHDRAW_WHILE_LIVE = {_D, _R}


def next_state(state: BriefingState, action: Action, *, has_live_revision: bool) -> BriefingState:
    """The state ``action`` leads to from ``state``, or ``TransitionError`` if refused.

    A takedown is allowed from every state and always ends withdrawn; an expiry and a
    title confirmation leave the state as it is.
    """
    if action is Action.TAKEDOWN:
        return _W
    if action in (Action.EXPIRE, Action.CONFIRM_TITLE):
        return state
    if action is Action.WITHDRAW and state in _WITHDRAW_WHILE_LIVE and has_live_revision:
        return _W
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise TransitionError(f"cannot {action.value} a briefing that is {state.value}") from None
