"""Every state move that claiming, recording and reconciliation make is one the tables allow."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from newsletter.db import Database
from newsletter.delivery import ledger, reconcile, recording, scheduling, settling
from newsletter.delivery.models import (
    BATCH_TRANSITIONS,
    DELIVERY_TRANSITIONS,
    BatchState,
    Delivery,
    DeliveryState,
    GroupState,
    ProviderGroup,
    SendBatch,
)
from tests.unit.newsletter.delivery.dispatch_factories import NOW, edition_with_readers

TOKEN = "c" * 32
LEASE = timedelta(minutes=5)
D = DeliveryState
B = BatchState

Action = Callable[[Session, ledger.Claim, list[int]], Any]


def _in_group(state: GroupState, step: Callable[..., Any]) -> Action:
    """Put the batch in a provider group in ``state`` (its send_at passed), then run ``step``."""

    def action(session: Session, claim: ledger.Claim, _ids: list[int]) -> Any:
        group_id = scheduling.open_group(session, claim, "sg-batch", NOW, now=NOW)
        session.execute(
            update(ProviderGroup).values(state=state).where(ProviderGroup.id == group_id)
        )
        return step(session, now=NOW)

    return action


ACTIONS: dict[str, Action] = {
    "claim_batch": lambda s, c, _: ledger.claim_batch(s, c.batch_id, now=NOW, lease=LEASE),
    "fail_recipients": lambda s, c, ids: recording.fail_recipients(
        s, c, dict.fromkeys(ids, "refused"), now=NOW
    ),
    "record_accepted": lambda s, c, _: recording.record_accepted(s, c, "sg-1", now=NOW),
    "record_retry": lambda s, c, _: recording.record_retry(s, c, "busy", not_before=NOW, now=NOW),
    "record_failed": lambda s, c, _: recording.record_failed(s, c, "refused", now=NOW),
    "record_unknown": lambda s, c, _: recording.record_unknown(s, c, "timeout", now=NOW),
    "expire_leases": lambda s, _c, _: reconcile.expire_leases(s, now=NOW),
    "confirm_batch": lambda s, c, _: reconcile.confirm_batch(s, c.batch_id, now=NOW),
    "record_scheduled": lambda s, c, _: scheduling.record_scheduled(s, c, "sg-1", now=NOW),
    "replan_cancelled": _in_group(GroupState.CANCELLED, settling.replan_cancelled),
    "release_due": _in_group(GroupState.OPEN, settling.release_due),
    "resolve_unknown": lambda s, _c, _: reconcile.resolve_unknown(s, now=NOW),
}


def _prepare(session: Session, claim: ledger.Claim, state: BatchState, resends: int) -> None:
    """Put the batch in ``state`` with every condition of every action met (lease run out, ...)."""
    session.execute(
        update(SendBatch)
        .where(SendBatch.id == claim.batch_id)
        .values(
            state=state,
            claim_token=TOKEN,
            not_before=None,
            lease_until=NOW - timedelta(minutes=1),
            unknown_since=NOW - timedelta(days=1),
            resends=resends,
        )
    )
    # One recipient in each delivery state, to see which of them every action moves.
    ids = session.scalars(
        select(Delivery.subscriber_id)
        .where(Delivery.batch_id == claim.batch_id)
        .order_by(Delivery.subscriber_id)
    ).all()
    for subscriber_id, delivery_state in zip(ids, DeliveryState, strict=True):
        session.execute(
            update(Delivery)
            .where(Delivery.subscriber_id == subscriber_id)
            .values(state=delivery_state)
        )


def _snapshot(session: Session, batch_id: int) -> tuple[BatchState, dict[int, DeliveryState]]:
    state = session.scalars(select(SendBatch.state).where(SendBatch.id == batch_id)).one()
    rows = session.execute(
        select(Delivery.subscriber_id, Delivery.state).where(Delivery.batch_id == batch_id)
    )
    return state, dict(rows.all())


def test_every_move_made_is_in_the_transition_tables(any_database: Database) -> None:
    """From every batch and recipient state, each action only makes moves the tables list."""
    digest_id, _ = edition_with_readers(any_database, len(DeliveryState))
    with any_database.session() as session:
        ledger.plan_dispatch(session, digest_id, now=NOW)
        batch_id = session.scalars(select(SendBatch.id)).one()
        ids = list(session.scalars(select(Delivery.subscriber_id).order_by(Delivery.subscriber_id)))
    claim = ledger.Claim(batch_id, digest_id, 1, 1, 0, TOKEN)
    batch_moves: set[tuple[BatchState, BatchState]] = set()
    delivery_moves: set[tuple[DeliveryState, DeliveryState]] = set()
    session = any_database.sessions()
    try:
        for name, action in ACTIONS.items():
            for start in BatchState:
                for resends in (0, reconcile.MAX_RESENDS):
                    _prepare(session, claim, start, resends)
                    before = _snapshot(session, batch_id)
                    action(session, claim, ids)
                    after = _snapshot(session, batch_id)
                    session.rollback()
                    where = f"{name} from a {start.value} batch"
                    if after[0] != before[0]:
                        assert after[0] in BATCH_TRANSITIONS[before[0]], where
                        batch_moves.add((before[0], after[0]))
                    for subscriber_id, old in before[1].items():
                        new = after[1][subscriber_id]
                        if new != old:
                            assert new in DELIVERY_TRANSITIONS[old], f"{where}: {old} -> {new}"
                            delivery_moves.add((old, new))
    finally:
        session.close()
    # The actions between them make every batch move the table has, and nothing else.
    assert batch_moves == {(a, b) for a, targets in BATCH_TRANSITIONS.items() for b in targets}
    assert delivery_moves == {
        (D.QUEUED, D.CLAIMED),
        (D.CLAIMED, D.QUEUED),
        (D.CLAIMED, D.SCHEDULED),
        (D.CLAIMED, D.ACCEPTED),
        (D.CLAIMED, D.FAILED),
        (D.SCHEDULED, D.QUEUED),
        (D.SCHEDULED, D.ACCEPTED),
        (D.SCHEDULED, D.FAILED),
    }


@pytest.mark.parametrize("provider_id", ["sg-9", ""])
def test_an_accepted_answer_writes_each_recipient_once(
    any_database: Database, provider_id: str
) -> None:
    """Recording an accepted batch is one UPDATE: claimed recipients are accepted, others only
    take the provider id they lack."""
    digest_id, _ = edition_with_readers(any_database, 3)
    with any_database.session() as session:
        ledger.plan_dispatch(session, digest_id, now=NOW)
        batch_id = session.scalars(select(SendBatch.id)).one()
        claim = ledger.claim_batch(session, batch_id, now=NOW, lease=LEASE)
        ids = list(session.scalars(select(Delivery.subscriber_id).order_by(Delivery.subscriber_id)))
        for subscriber_id, moved_on in ((ids[1], D.DELIVERED), (ids[2], D.FAILED)):
            session.execute(  # an event, and a refusal, got there before the answer
                update(Delivery)
                .where(Delivery.subscriber_id == subscriber_id)
                .values(state=moved_on)
            )
    assert claim is not None
    statements: list[str] = []

    def collect(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    later = NOW + timedelta(minutes=1)
    event.listen(any_database.engine, "before_cursor_execute", collect)
    try:
        with any_database.session() as session:
            assert recording.record_accepted(session, claim, provider_id, now=later)
    finally:
        event.remove(any_database.engine, "before_cursor_execute", collect)
    assert sum(s.lstrip().upper().startswith("UPDATE DELIVERIES") for s in statements) == 1
    with any_database.session() as session:
        rows = session.execute(
            select(Delivery.state, Delivery.provider_id, Delivery.updated_at).order_by(
                Delivery.subscriber_id
            )
        ).all()
    taken = provider_id or None
    assert [tuple(row) for row in rows] == [
        (D.ACCEPTED, taken, later),
        (D.DELIVERED, taken, NOW),
        (D.FAILED, taken, NOW),
    ]
