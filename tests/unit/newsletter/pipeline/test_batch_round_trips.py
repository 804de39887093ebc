"""What one batch costs the database: three transactions on the dispatch path, four as a task.

The claim's transaction also reads the edition and the recipients (``take_ready``);
then the request is marked started, then its outcome recorded: each of those must
commit on its own (``docs/delivery.md``). Counted with SQLAlchemy's events, so a
change that adds a session or a query per batch fails here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import event, select

from newsletter.db import Database
from newsletter.delivery.models import BatchState, Delivery, DeliveryState, SendBatch
from newsletter.delivery.services import EditionSource
from newsletter.errors import NotFoundError
from newsletter.pipeline import batches, dispatch, steps
from newsletter.providers.interfaces import Batch, SendResult
from newsletter.providers.memory import MemorySender
from subscribers.tokens import Tokens
from tests.unit.newsletter.pipeline.test_steps import LEASE, NOW, WINDOW, ready_to_plan, started

TOKENS = Tokens("round-trips-test-secret-0123456789abcdef")
BASE_URL = "https://x.test"
# Per batch: the claim (next due batch, edition lock, breaker, claim UPDATE ... RETURNING,
# its recipients, the edition cache's key, the addressees), the started mark, the
# outcome (batch, recipients, breaker).
STATEMENTS_PER_BATCH = 11


@contextmanager
def counting(database: Database) -> Iterator[Counter[str]]:
    """Count connection checkouts (sessions), commits and statements on ``database``."""
    counts: Counter[str] = Counter()

    def checkout(*_: Any) -> None:
        counts["sessions"] += 1

    def commit(*_: Any) -> None:
        counts["commits"] += 1

    def statement(*_: Any) -> None:
        counts["statements"] += 1

    engine = database.engine
    hooks = [(engine, "checkout", checkout), (engine, "commit", commit)]
    hooks.append((engine, "before_cursor_execute", statement))
    for target, name, hook in hooks:
        event.listen(target, name, hook)
    try:
        yield counts
    finally:
        for target, name, hook in hooks:
            event.remove(target, name, hook)


class Snapshots(MemorySender):
    """A memory sender noting the database counts as each request leaves."""

    def __init__(self, counts: Counter[str]) -> None:
        super().__init__()
        self.counts = counts
        self.at_request: list[Counter[str]] = []

    def send_batch(self, batch: Batch) -> SendResult:
        self.at_request.append(Counter(self.counts))
        return super().send_batch(batch)


def planned(database: Database, readers: int) -> int:
    """A published edition planned in one-reader batches; its digest id."""
    digest_id = ready_to_plan(database, started(database, readers=readers))
    assert len(steps.plan_step(database, digest_id, now=NOW, window=WINDOW, batch_size=1)) == (
        readers
    )
    return digest_id


def test_the_dispatch_loop_costs_three_transactions_a_batch(any_database: Database) -> None:
    """From one request to the next, ``digest send`` records the outcome, claims the next
    batch (with its edition and recipients) and marks it started: three sessions, three
    commits, a bounded number of statements; every reader still gets one copy."""
    digest_id = planned(any_database, readers=5)
    with counting(any_database) as counts:
        sender = Snapshots(counts)
        dispatch.send_waiting(
            any_database, digest_id, sender, base_url=BASE_URL, tokens=TOKENS, clock=lambda: NOW
        )
    assert len(sender.batches) == 5
    assert sorted(email.to for email in sender.sent) == sorted({e.to for e in sender.sent})
    assert len(sender.sent) == 5
    snaps = sender.at_request
    for before, after in pairwise(snaps):
        between = after - before
        assert between["sessions"] == 3, between
        assert between["commits"] == 3, between
        assert between["statements"] <= STATEMENTS_PER_BATCH, between


def test_a_batch_task_costs_four_transactions(any_database: Database) -> None:
    """A batch task adds one look, after its outcome committed, for an open batch left."""
    digest_id = planned(any_database, readers=2)
    with any_database.session() as session:
        ids = list(
            session.scalars(
                select(SendBatch.id).where(SendBatch.digest_id == digest_id).order_by("number")
            )
        )
    sender = MemorySender()

    def step(batch_id: int) -> batches.BatchOutcome | None:
        return batches.send_batch_step(
            any_database, batch_id, sender, now=NOW, base_url=BASE_URL, tokens=TOKENS, lease=LEASE
        )

    with counting(any_database) as counts:
        first = step(ids[0])
    assert first is not None
    assert not first.last
    assert counts["sessions"] == 4, counts
    assert counts["commits"] == 4, counts
    second = step(ids[1])
    assert second is not None
    assert second.last  # read after its outcome committed: nothing of the edition is open
    assert len(sender.sent) == 2


def test_an_edition_that_cannot_be_built_leaves_the_batch_unclaimed(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim commits with the edition's reads or not at all: if building the edition
    fails, the batch and its readers stay planned, with no attempt spent."""
    digest_id = planned(database, readers=1)

    def broken(*_: Any, **__: Any) -> None:
        raise NotFoundError("unknown digest")

    monkeypatch.setattr(EditionSource, "edition", broken)
    sender = MemorySender()
    with pytest.raises(NotFoundError):
        dispatch._worker(  # the loop alone: ``send_waiting`` builds the edition first
            dispatch._Run(
                database,
                digest_id,
                sender,
                dispatch.DispatchOptions(lease=LEASE),
                dispatch.Progress(),
                lambda: NOW,
                lambda _: None,
                EditionSource(database, BASE_URL, TOKENS),
            )
        )
    assert sender.sent == []
    with database.session() as session:
        batch = session.scalars(select(SendBatch).where(SendBatch.digest_id == digest_id)).one()
        assert (batch.state, batch.attempts, batch.claim_token) == (BatchState.PLANNED, 0, None)
        states = session.scalars(select(Delivery.state).where(Delivery.digest_id == digest_id))
        assert list(states) == [DeliveryState.QUEUED]
