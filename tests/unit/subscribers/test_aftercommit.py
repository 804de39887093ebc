"""Work queued on a session runs after its commit and is dropped when it rolls back."""

from __future__ import annotations

import pytest

from newsletter.db import Database
from subscribers.aftercommit import after_commit


def test_actions_run_once_after_the_commit(database: Database) -> None:
    """Queued actions run in order after the commit, not before, and not again later."""
    ran: list[str] = []
    with database.session() as session:
        after_commit(session, lambda: ran.append("first"))
        after_commit(session, lambda: ran.append("second"))
        assert ran == []
        session.commit()
        assert ran == ["first", "second"]
        session.commit()
    assert ran == ["first", "second"]


def test_a_rollback_drops_the_queue(database: Database) -> None:
    """Actions queued before a rollback never run, even when the session commits later."""
    ran: list[str] = []

    def failing() -> None:
        with database.session() as session:
            after_commit(session, lambda: ran.append("lost"))
            raise RuntimeError("the transaction fails")

    with pytest.raises(RuntimeError):
        failing()
    with database.session() as session:
        after_commit(session, lambda: ran.append("dropped"))
        session.rollback()
        after_commit(session, lambda: ran.append("kept"))
    assert ran == ["kept"]
