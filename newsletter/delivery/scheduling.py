"""Sending ahead of the delivery instant under cancellable provider batch ids.

An edition with a delivery instant ``T`` (its scheduled time) is started a lead time
before ``T``. Each request then goes out with ``send_at = T`` under a provider batch
id of its own (a ``ProviderGroup``), and SendGrid holds the mail until ``T``. The
provider can still cancel a batch id until ten minutes before ``T``, which turns a
lost answer from a guess into a decision:

1. the answer to a request was lost (or its worker died after starting it): its
   group becomes ``cancelling``;
2. ``settle`` asks the provider to cancel that batch id and reads the cancel back;
   only once the provider *confirms* it is the group ``cancelled``;
3. then, and only then, the group's requests are planned again and go out under a
   new batch id. The cancelled batch id's mail is discarded at ``T``, whatever the
   lost request did.

Why nobody gets two copies or none (``docs/delivery.md`` has the longer argument):
a reader is in exactly one request at a time; a request is made again only after
its previous batch id is confirmed cancelled, and a cancelled batch id is never
used again nor lifted before ``T`` has long passed. A request that was answered is
released at ``T`` unless its group was cancelled, in which case it is sent again.
What cannot be settled before the cutoff (the provider refused the cancel, its
budget of ten was spent, or the cutoff came first) falls back to the event-based
reconciliation of immediate sends, counted from ``T``: the weaker guarantee.

This module opens groups and records what the provider holds; the pass that
cancels, re-plans, releases and lifts them is ``settling.settle``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from newsletter.delivery import breaker
from newsletter.delivery.ledger import Claim
from newsletter.delivery.models import (
    BatchState,
    DeliveryState,
    GroupState,
    ProviderGroup,
    SendBatch,
    sources,
)
from newsletter.delivery.recording import move_recipients
from newsletter.providers.interfaces import (
    CANCEL_CUTOFF,
    SETTLE_MARGIN,
    EmailSender,
    can_schedule,
)

_G = GroupState
# Groups waiting for the provider to confirm a cancel, and what a confirmed one becomes.
TO_CANCEL = {_G.CANCELLING: _G.CANCELLED, _G.WITHDRAWING: _G.WITHDRAWN}
HELD_BACK = (_G.CANCELLED, _G.WITHDRAWN)  # cancels we hold at the provider


def send_at_for(deliver_at: datetime | None, now: datetime, sender: EmailSender) -> datetime | None:
    """The send_at a request made ``now`` carries: the delivery instant if ahead, else None."""
    if deliver_at is None or deliver_at <= now or not can_schedule(sender):
        return None
    return deliver_at


def cancellable_until(send_at: datetime) -> datetime:
    """The last moment we ask the provider to cancel a batch id sent for ``send_at``."""
    return send_at - CANCEL_CUTOFF - SETTLE_MARGIN


def open_group(
    session: Session, claim: Claim, provider_batch_id: str, send_at: datetime, *, now: datetime
) -> int:
    """Record a new provider batch id for the claimed request (commit before sending)."""
    group_id: int = session.execute(
        insert(ProviderGroup).returning(ProviderGroup.id),
        {
            "digest_id": claim.digest_id,
            "provider_batch_id": provider_batch_id,
            "send_at": send_at,
            "state": GroupState.OPEN,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar_one()
    session.execute(
        update(SendBatch)
        .where(SendBatch.id == claim.batch_id, SendBatch.claim_token == claim.token)
        .values(group_id=group_id)
        .execution_options(synchronize_session=False)
    )
    return group_id


def record_scheduled(session: Session, claim: Claim, provider_id: str, *, now: datetime) -> bool:
    """The provider holds the request until its send_at: the batch and its recipients wait."""
    moved = session.execute(
        update(SendBatch)
        .where(
            SendBatch.id == claim.batch_id,
            SendBatch.claim_token == claim.token,
            SendBatch.state.in_(sources(BatchState.SCHEDULED)),
        )
        .values(
            state=BatchState.SCHEDULED,
            provider_id=provider_id[:200] or None,
            lease_until=None,
            error=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    move_recipients(
        session,
        claim.batch_id,
        DeliveryState.SCHEDULED,
        provider_id=provider_id[:200] or None,
        updated_at=now,
    )
    breaker.record_success(session, breaker.EMAIL, now)  # the provider answered
    return True


def move_groups(
    session: Session, ids: list[int], to: GroupState, now: datetime, **values: object
) -> int:
    """Move these provider groups to ``to`` (those whose state allows it); how many."""
    if not ids:
        return 0
    moved = session.execute(
        update(ProviderGroup)
        .where(ProviderGroup.id.in_(ids), ProviderGroup.state.in_(sources(to)))
        .values(state=to, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return int(moved.rowcount)  # type: ignore[attr-defined]


def withdraw(session: Session, digest_id: int, *, now: datetime) -> int:
    """The edition was cancelled: ask to cancel every batch id it still holds at the provider.

    Returns how many of its requests are past the cutoff and will go out all the same.
    The provider is asked on the next ``settle`` (the tick's); once it confirms, the
    group's requests fail as cancelled instead of being sent again.
    """
    rows = session.execute(
        select(ProviderGroup.id, ProviderGroup.state, ProviderGroup.send_at).where(
            ProviderGroup.digest_id == digest_id,
            ProviderGroup.state.in_([_G.OPEN, _G.CANCELLING, _G.CANCELLED]),
        )
    ).all()
    in_time = [
        gid
        for gid, state, send_at in rows
        if state is not _G.CANCELLED and now < cancellable_until(send_at)
    ]
    move_groups(session, in_time, _G.WITHDRAWING, now)
    move_groups(
        session, [gid for gid, state, _ in rows if state is _G.CANCELLED], _G.WITHDRAWN, now
    )
    late = [
        gid
        for gid, state, send_at in rows
        if state is not _G.CANCELLED and now >= cancellable_until(send_at)
    ]
    if not late:
        return 0
    return int(
        session.scalar(
            select(func.count()).where(
                SendBatch.group_id.in_(late),
                SendBatch.state.in_([BatchState.SCHEDULED, BatchState.SENDING, BatchState.UNKNOWN]),
            )
        )
        or 0
    )


def withdrawing(session: Session, digest_id: int) -> int:
    """Requests of the edition whose batch id the provider is being asked to cancel."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(SendBatch)
            .join(ProviderGroup, ProviderGroup.id == SendBatch.group_id)
            .where(
                ProviderGroup.digest_id == digest_id,
                ProviderGroup.state.in_([_G.WITHDRAWING, _G.WITHDRAWN]),
                SendBatch.state.in_([BatchState.SCHEDULED, BatchState.SENDING, BatchState.UNKNOWN]),
            )
        )
        or 0
    )
