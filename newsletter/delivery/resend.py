"""Resend an edition to the readers whose failure was transient, exactly once, while it is fresh.

A reader is failed ``transient`` when the provider stayed unreachable or busy until
the edition's deadline (``deliver_by``). ``requeue_transient`` moves every such
reader back to ``queued`` in new batches, in one transaction that first takes the
digest's write lock: of two resends racing, the second waits for the first to
commit and then finds nobody left to move, so nobody is queued twice. The batches
are then sent like any others (the CLI sends them itself; in the pipeline the
tick enqueues them). After the deadline, a resend is refused with the deadline
named: a late edition is not news any more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from newsletter.delivery import ledger, roster
from newsletter.delivery.models import (
    Delivery,
    DeliveryState,
    FailureKind,
    SendBatch,
    sources,
)
from newsletter.digests.models import DigestState, transition
from newsletter.errors import TransitionError
from newsletter.providers.interfaces import MAX_RECIPIENTS_PER_BATCH

_REQUEUE_FROM = sources(DeliveryState.QUEUED, among=[DeliveryState.FAILED])
_REOPEN = (DigestState.FAILED, DigestState.PARTIALLY_FAILED)


@dataclass(frozen=True)
class Requeued:
    """What one resend queued: how many readers, in which new batches, before when."""

    digest_id: int
    readers: int
    deliver_by: datetime
    batch_ids: list[int] = field(default_factory=list)


def edition_deadline(session: Session, digest_id: int) -> datetime | None:
    """The latest ``deliver_by`` of the edition's batches (None if it was never planned)."""
    return session.scalar(
        select(func.max(SendBatch.deliver_by)).where(SendBatch.digest_id == digest_id)
    )


def transient_failures(session: Session, digest_id: int) -> int:
    """How many of the edition's readers failed for a transient reason (resendable)."""
    return int(
        session.scalar(
            select(func.count()).where(
                Delivery.digest_id == digest_id,
                Delivery.state == DeliveryState.FAILED,
                Delivery.failure == FailureKind.TRANSIENT,
            )
        )
        or 0
    )


def requeue_transient(
    session: Session,
    digest_id: int,
    *,
    now: datetime,
    batch_size: int = MAX_RECIPIENTS_PER_BATCH,
) -> Requeued:
    """Queue the transiently failed readers again in new batches (the caller commits).

    Raises ``TransitionError`` naming the deadline once the edition is past it, and
    when the edition was never sent.
    """
    digest = ledger.lock_digest(session, digest_id, now)
    deliver_by = edition_deadline(session, digest_id)
    if deliver_by is None:
        raise TransitionError(f"{digest.label()} was never sent: there is nothing to resend")
    if now >= deliver_by:
        raise TransitionError(
            f"{digest.label()} is past its deadline ({deliver_by:%Y-%m-%d %H:%M} UTC): "
            "it is no longer fresh and will not be resent"
        )
    ids = list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.digest_id == digest_id,
                Delivery.state == DeliveryState.FAILED,
                Delivery.failure == FailureKind.TRANSIENT,
            )
            .order_by(Delivery.id)
        )
    )
    if not ids:
        return Requeued(digest_id, 0, deliver_by)
    if digest.state in _REOPEN:
        transition(digest, DigestState.SENDING)
        session.flush()
    elif digest.state is not DigestState.SENDING:
        raise TransitionError(f"{digest.label()} is {digest.state.value}: it cannot be resent")
    number = roster.last_batch_number(session, digest_id)
    batch_ids: list[int] = []
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        number += 1
        batch_id = session.execute(
            insert(SendBatch).returning(SendBatch.id),
            {
                "digest_id": digest_id,
                "number": number,
                "size": len(chunk),
                "deliver_by": deliver_by,
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(chunk),
                Delivery.state.in_(_REQUEUE_FROM),
                Delivery.failure == FailureKind.TRANSIENT,
            )
            .values(
                state=DeliveryState.QUEUED,
                batch_id=batch_id,
                failure=None,
                last_error=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        batch_ids.append(batch_id)
    return Requeued(digest_id, len(ids), deliver_by, batch_ids)
