"""Confirmation emails sent only once the sign-up that asks for them is committed.

Sending inside the transaction would mail links to rows that a failed commit rolls
back (two sign-ups racing for one new address, an import chunk that fails), and a
re-run of the import would mail the same people twice. So services queue the work on
the session; it runs after the outermost commit and is dropped on rollback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

Action = Callable[[], None]
_QUEUE = "subscribers.after_commit"


def _queue(session: Session) -> list[Action]:
    queue: list[Action] | None = session.info.get(_QUEUE)
    if queue is None:
        queue = session.info[_QUEUE] = []
        # Listeners stay for the session's life: removing one while SQLAlchemy walks the
        # listener list is not allowed, so each run just empties the queue.
        event.listen(session, "after_commit", _run)
        # Every rollback, even one that had no SQL to undo (or a savepoint's): better an
        # email not sent than a link to rows that are gone.
        event.listen(session, "after_soft_rollback", _drop)
    return queue


def _run(session: Session) -> None:
    queue: list[Action] = session.info.get(_QUEUE, [])
    actions = list(queue)
    queue.clear()
    for action in actions:
        action()


def _drop(session: Session, *_args: Any) -> None:
    session.info.get(_QUEUE, []).clear()


def after_commit(session: Session, action: Action) -> None:
    """Run ``action`` after ``session`` next commits; forget it if it rolls back first."""
    if not session.in_transaction():
        # Without a transaction a rollback is a no-op that fires no event to drop the queue.
        session.begin()
    _queue(session).append(action)
