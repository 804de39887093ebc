"""Resolving batches whose outcome nobody recorded: stale claims and lost answers.

A worker that dies between the provider call and its commit leaves its batch
``sending`` with a lease in the past; ``expire_leases`` marks it ``unknown``. One that
died before it marked the request started (``ledger.mark_started``) never reached the
provider: its batch is simply planned again, as soon as the lease ends. The
provider's own events then tell what happened: a ``processed``, ``delivered``,
``dropped`` or ``bounce`` event carrying the batch id in its ``custom_args`` proves
the request was accepted (``confirm_batch``).

Policy for a batch that stays unconfirmed (see ``docs/delivery.md``): SendGrid
emits ``processed`` within seconds of accepting a request, so after
``DEFAULT_WINDOW`` without any event the request most likely never arrived and the
batch is sent again, once. Should it come back unknown a second time, its
recipients are marked failed ("outcome unknown") rather than risking a third copy.
A longer window means fewer possible duplicates when the event stream is late, at
the price of a later delivery for the recipients of a request that was truly lost.

A provider whose resends replace what an earlier attempt left (the outbox: one file
per edition and reader, ``providers.interfaces.resends_replace``) cannot make a
second copy and sends no events: its unknown batches are planned again at once, as
often as needed, and the batch's deadline (``deadline``) bounds the attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from newsletter.delivery.models import (
    BatchState,
    DeliveryState,
    GroupState,
    ProviderGroup,
    SendBatch,
    sources,
)
from newsletter.delivery.recording import move_recipients

DEFAULT_WINDOW = timedelta(minutes=10)
MAX_RESENDS = 1
UNKNOWN_TWICE = "outcome unknown: no provider event after a resend; not sent again"
# The policy acts on unknown batches only: one that moved on since it was read (say,
# planned again and claimed by a worker) is not touched.
_RESEND_FROM = sources(BatchState.PLANNED, among=[BatchState.UNKNOWN])
_GIVE_UP_FROM = sources(BatchState.FAILED, among=[BatchState.UNKNOWN])


@dataclass(frozen=True)
class Resolution:
    """What one reconciliation pass did, and to which digests."""

    expired: int = 0
    resent: int = 0
    failed: int = 0
    digest_ids: frozenset[int] = frozenset()


NOT_STARTED = "the worker's lease ran out before it called the provider; planned again"


def expire_leases(session: Session, *, now: datetime) -> list[int]:
    """Settle ``sending`` batches whose lease has run out; returns their digests.

    A batch whose request was started becomes ``unknown``; one whose request never
    started goes back to ``planned`` at once, its recipients queued again.
    """
    stale = session.execute(
        select(SendBatch.id, SendBatch.digest_id, SendBatch.request_started_at).where(
            SendBatch.state == BatchState.SENDING, SendBatch.lease_until < now
        )
    ).all()
    for batch_id, _, started in stale:
        if started is None:
            _release(session, batch_id, now)
            continue
        session.execute(
            update(SendBatch)
            .where(SendBatch.id == batch_id, SendBatch.state.in_(sources(BatchState.UNKNOWN)))
            .values(
                state=BatchState.UNKNOWN,
                unknown_since=now,
                error="the worker's lease ran out before it recorded an answer",
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    return [digest_id for _, digest_id, _ in stale]


def _release(session: Session, batch_id: int, now: datetime) -> None:
    moved = session.execute(
        update(SendBatch)
        .where(
            SendBatch.id == batch_id,
            SendBatch.state == BatchState.SENDING,
            SendBatch.request_started_at.is_(None),
        )
        .values(
            state=BatchState.PLANNED,
            claim_token=None,
            lease_until=None,
            not_before=None,
            error=NOT_STARTED,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount == 1:  # type: ignore[attr-defined]
        move_recipients(session, batch_id, DeliveryState.QUEUED, updated_at=now)


def confirm_batch(session: Session, batch_id: int, *, now: datetime) -> bool:
    """An event proved the provider accepted this batch: accept it and its claimed recipients."""
    moved = session.execute(
        update(SendBatch)
        .where(
            SendBatch.id == batch_id,
            SendBatch.state.in_(sources(BatchState.ACCEPTED)),
        )
        .values(state=BatchState.ACCEPTED, lease_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    move_recipients(session, batch_id, DeliveryState.ACCEPTED, updated_at=now)
    return True


def resolve_unknown(
    session: Session,
    *,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
    max_resends: int | None = MAX_RESENDS,
) -> Resolution:
    """Apply the unconfirmed-batch policy to every batch unknown for longer than ``window``.

    ``max_resends`` None: resend however often (a provider whose resends replace).
    """
    expired = expire_leases(session, now=now)
    # A request sent ahead under a provider batch id is settled by cancelling that id
    # (``scheduling``); only once its group is released, uncancelled, do events decide,
    # and the provider emits none before the send_at, so the window counts from there.
    overdue = session.execute(
        select(SendBatch.id, SendBatch.digest_id, SendBatch.resends)
        .outerjoin(ProviderGroup, ProviderGroup.id == SendBatch.group_id)
        .where(
            SendBatch.state == BatchState.UNKNOWN,
            SendBatch.unknown_since <= now - window,
            or_(
                SendBatch.group_id.is_(None),
                and_(
                    ProviderGroup.state == GroupState.RELEASED,
                    ProviderGroup.send_at <= now - window,
                ),
            ),
        )
    ).all()
    resent = failed = 0
    for batch_id, _, resends in overdue:
        if max_resends is None or resends < max_resends:
            _resend(session, batch_id, now)
            resent += 1
        else:
            _give_up(session, batch_id, now)
            failed += 1
    digests = frozenset(expired) | frozenset(row[1] for row in overdue)
    return Resolution(len(expired), resent, failed, digests)


def _resend(session: Session, batch_id: int, now: datetime) -> None:
    moved = session.execute(
        update(SendBatch)
        .where(SendBatch.id == batch_id, SendBatch.state.in_(_RESEND_FROM))
        .values(
            state=BatchState.PLANNED,
            resends=SendBatch.resends + 1,
            claim_token=None,
            group_id=None,
            request_started_at=None,
            not_before=None,
            unknown_since=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return
    move_recipients(session, batch_id, DeliveryState.QUEUED, updated_at=now)


def _give_up(session: Session, batch_id: int, now: datetime) -> None:
    moved = session.execute(
        update(SendBatch)
        .where(SendBatch.id == batch_id, SendBatch.state.in_(_GIVE_UP_FROM))
        .values(state=BatchState.FAILED, error=UNKNOWN_TWICE, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return
    move_recipients(
        session, batch_id, DeliveryState.FAILED, last_error=UNKNOWN_TWICE, updated_at=now
    )
