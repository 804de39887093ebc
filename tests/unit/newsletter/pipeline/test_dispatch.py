"""``digest send``'s driver takes batches under the same rules as a batch task."""

from __future__ import annotations

from sqlalchemy import select

from newsletter.db import Database
from newsletter.delivery.models import BatchState, SendBatch
from newsletter.pipeline import batches, dispatch, steps
from newsletter.providers.memory import MemorySender
from newsletter.schedules.models import EditionState, ScheduledEdition, transition
from subscribers.tokens import Tokens
from tests.unit.newsletter.pipeline.test_steps import NOW, WINDOW, ready_to_plan, started


def test_sending_by_hand_stops_at_a_cancelled_edition(database: Database) -> None:
    """An edition cancelled while its batches wait is not sent by ``digest send`` either:
    the first batch it takes finds the cancel, and every unsent batch fails as cancelled."""
    edition_id = started(database, readers=3)
    digest_id = ready_to_plan(database, edition_id)
    planned = steps.plan_step(database, digest_id, now=NOW, window=WINDOW, batch_size=1)
    assert len(planned) == 3
    with database.session() as session:  # the cancel's state change, its batches not yet stopped
        edition = session.get(ScheduledEdition, edition_id)
        assert edition is not None
        transition(edition, EditionState.CANCELLED, "cancelled by an editor")
    sender = MemorySender()
    dispatch.send_waiting(
        database,
        digest_id,
        sender,
        base_url="https://x.test",
        tokens=Tokens("dispatch-test-secret-0123456789abcdef012"),
        clock=lambda: NOW,
    )
    assert sender.sent == []
    with database.session() as session:
        rows = session.execute(
            select(SendBatch.state, SendBatch.error).where(SendBatch.digest_id == digest_id)
        ).all()
    assert rows == [(BatchState.FAILED, batches.CANCELLED_WHILE_SENDING)] * 3
