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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from newsletter.db import Database
from newsletter.delivery import breaker
from newsletter.delivery.interfaces import (
    CANCEL_CUTOFF,
    CANCEL_LIMIT,
    SETTLE_MARGIN,
    EmailSender,
    ScheduledSender,
)
from newsletter.delivery.ledger import Claim
from newsletter.delivery.models import (
    BatchState,
    DeliveryState,
    FailureKind,
    GroupState,
    ProviderGroup,
    SendBatch,
    sources,
)
from newsletter.delivery.recording import move_recipients
from newsletter.errors import PermanentError, RetryableError

# A cancelled batch id is lifted this long after its send_at (its mail was discarded
# at send_at), giving back one of the provider's ten cancellations.
LIFT_AFTER = timedelta(hours=1)
CANCELLED_AGAIN = "provider batch id {batch_id} was cancelled after a lost answer; sent again"
WITHDRAWN = "cancelled by an editor; provider batch id {batch_id} was cancelled before its send_at"
NOT_CANCELLED = "provider batch id {batch_id} could not be cancelled before the cutoff: {why}"
_G = GroupState
# Groups waiting for the provider to confirm a cancel, and what a confirmed one becomes.
_TO_CANCEL = {_G.CANCELLING: _G.CANCELLED, _G.WITHDRAWING: _G.WITHDRAWN}
_HELD_BACK = (_G.CANCELLED, _G.WITHDRAWN)  # cancels we hold at the provider


@dataclass(frozen=True)
class Settled:
    """What one ``settle`` pass did."""

    cancelled: int = 0
    replanned: int = 0
    withdrawn: int = 0
    released: int = 0
    gave_up: int = 0
    lifted: int = 0


def can_schedule(sender: EmailSender) -> bool:
    """Whether ``sender`` holds mail until a send_at and can cancel it (SendGrid)."""
    return isinstance(sender, ScheduledSender)


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


def _move_groups(
    session: Session, ids: list[int], to: GroupState, now: datetime, **values: object
) -> int:
    if not ids:
        return 0
    moved = session.execute(
        update(ProviderGroup)
        .where(ProviderGroup.id.in_(ids), ProviderGroup.state.in_(sources(to)))
        .values(state=to, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return int(moved.rowcount)  # type: ignore[attr-defined]


def mark_lost(session: Session, *, now: datetime) -> int:
    """Every open group with a request whose answer was lost starts cancelling, if still in time."""
    lost = select(SendBatch.group_id).where(
        SendBatch.state == BatchState.UNKNOWN, SendBatch.group_id.is_not(None)
    )
    rows = session.execute(
        select(ProviderGroup.id, ProviderGroup.send_at).where(
            ProviderGroup.state == _G.OPEN, ProviderGroup.id.in_(lost.scalar_subquery())
        )
    ).all()
    in_time = [group_id for group_id, send_at in rows if now < cancellable_until(send_at)]
    return _move_groups(session, in_time, _G.CANCELLING, now)


def cancel_group(
    session: Session, sender: ScheduledSender, group: ProviderGroup, *, now: datetime
) -> bool:
    """Ask the provider to cancel ``group`` and read it back; True once confirmed cancelled."""
    why = ""
    try:
        sender.cancel_batch(group.provider_batch_id)
    except RetryableError:
        pass  # the status read below tells whether it took; else the next pass asks again
    except PermanentError as exc:
        why = str(exc)  # already cancelled reads back as cancelled; anything else gives up
    try:
        status = sender.batch_status(group.provider_batch_id)
    except RetryableError:
        return False
    if status == "cancel":
        _move_groups(session, [group.id], _TO_CANCEL[group.state], now, error=None)
        return True
    if why:
        error = NOT_CANCELLED.format(batch_id=group.provider_batch_id, why=why)
        _move_groups(session, [group.id], _G.RELEASED, now, error=error[:2000])
    return False


def replan_cancelled(session: Session, *, now: datetime) -> list[int]:
    """Plan again every answered or unknown request of a confirmed-cancelled group."""
    return _move_held(
        session,
        _G.CANCELLED,
        BatchState.PLANNED,
        CANCELLED_AGAIN,
        now,
        batch_values={
            "group_id": None,
            "claim_token": None,
            "not_before": None,
            "unknown_since": None,
            "request_started_at": None,
            "resends": SendBatch.resends + 1,
        },
        recipients_to=DeliveryState.QUEUED,
        recipient_values={"provider_id": None},
    )


def _move_held(
    session: Session,
    group_state: GroupState,
    to: BatchState,
    reason: str,
    now: datetime,
    *,
    batch_values: dict[str, object],
    recipients_to: DeliveryState,
    recipient_values: dict[str, object],
    recipients_told: bool = False,
) -> list[int]:
    """Move the requests a cancelled batch id held (answered or unknown) and their readers."""
    held = [BatchState.SCHEDULED, BatchState.UNKNOWN]
    rows = session.execute(
        select(SendBatch.id, ProviderGroup.provider_batch_id)
        .join(ProviderGroup, ProviderGroup.id == SendBatch.group_id)
        .where(ProviderGroup.state == group_state, SendBatch.state.in_(held))
    ).all()
    moved_ids: list[int] = []
    for batch_id, provider_batch_id in rows:
        text = reason.format(batch_id=provider_batch_id)
        moved = session.execute(
            update(SendBatch)
            .where(SendBatch.id == batch_id, SendBatch.state.in_(sources(to, among=held)))
            .values(state=to, lease_until=None, error=text, updated_at=now, **batch_values)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            told = {"last_error": text} if recipients_told else {}
            move_recipients(
                session, batch_id, recipients_to, updated_at=now, **recipient_values, **told
            )
            moved_ids.append(batch_id)
    return moved_ids


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
    _move_groups(session, in_time, _G.WITHDRAWING, now)
    _move_groups(
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


def fail_withdrawn(session: Session, *, now: datetime) -> int:
    """Requests of a withdrawn group (confirmed cancelled) fail as cancelled; how many batches."""
    failed = _move_held(
        session,
        _G.WITHDRAWN,
        BatchState.FAILED,
        WITHDRAWN,
        now,
        batch_values={},
        recipients_to=DeliveryState.FAILED,
        recipient_values={"failure": FailureKind.PERMANENT},
        recipients_told=True,
    )
    return len(failed)


def release_due(session: Session, *, now: datetime) -> int:
    """Groups whose send_at passed uncancelled are released: their held requests are accepted."""
    due = list(
        session.scalars(
            select(ProviderGroup.id).where(
                ProviderGroup.state.in_([_G.OPEN, *_TO_CANCEL]), ProviderGroup.send_at <= now
            )
        )
    )
    _move_groups(session, due, _G.RELEASED, now)
    held = list(
        session.scalars(
            select(SendBatch.id)
            .join(ProviderGroup, ProviderGroup.id == SendBatch.group_id)
            .where(
                ProviderGroup.state == _G.RELEASED,
                ProviderGroup.send_at <= now,
                SendBatch.state == BatchState.SCHEDULED,
            )
        )
    )
    for batch_id in held:
        moved = session.execute(
            update(SendBatch)
            .where(SendBatch.id == batch_id, SendBatch.state == BatchState.SCHEDULED)
            .values(state=BatchState.ACCEPTED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            move_recipients(session, batch_id, DeliveryState.ACCEPTED, updated_at=now)
    return len(held)


def give_up_late(session: Session, *, now: datetime) -> int:
    """Cancelling groups that reached the cutoff unconfirmed fall back to event reconciliation."""
    rows = session.execute(
        select(ProviderGroup.id, ProviderGroup.provider_batch_id, ProviderGroup.send_at).where(
            ProviderGroup.state.in_(list(_TO_CANCEL))
        )
    ).all()
    late = 0
    for group_id, provider_batch_id, send_at in rows:
        if now >= cancellable_until(send_at):
            why = "the cancel was not confirmed in time"
            error = NOT_CANCELLED.format(batch_id=provider_batch_id, why=why)
            late += _move_groups(session, [group_id], _G.RELEASED, now, error=error)
    return late


def cancels_in_use(session: Session) -> int:
    """Batch ids we hold cancelled at the provider (they count against its limit of ten)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ProviderGroup)
            .where(ProviderGroup.state.in_(_HELD_BACK), ProviderGroup.lifted_at.is_(None))
        )
        or 0
    )


def settle(database: Database, sender: EmailSender | None, *, now: datetime) -> Settled:
    """One pass: cancel groups with lost answers, send their requests again, release the rest."""
    cancelled = gave_up = lifted = 0
    with database.session() as session:
        mark_lost(session, now=now)
        gave_up = give_up_late(session, now=now)
    if isinstance(sender, ScheduledSender):
        with database.session() as session:
            groups = list(
                session.scalars(
                    select(ProviderGroup)
                    .where(ProviderGroup.state.in_(list(_TO_CANCEL)))
                    .order_by(ProviderGroup.send_at, ProviderGroup.id)
                )
            )
            in_use = cancels_in_use(session)
        for group in groups:
            if in_use >= CANCEL_LIMIT:
                break  # the rest wait for a lifted cancel, or fall back at the cutoff
            with database.session() as session:
                if cancel_group(session, sender, group, now=now):
                    cancelled += 1
                    in_use += 1
        lifted = _lift_old(database, sender, now=now)
    with database.session() as session:
        replanned = replan_cancelled(session, now=now)
        withdrawn = fail_withdrawn(session, now=now)
    with database.session() as session:
        released = release_due(session, now=now)
    return Settled(cancelled, len(replanned), withdrawn, released, gave_up, lifted)


def _lift_old(database: Database, sender: ScheduledSender, *, now: datetime) -> int:
    with database.session() as session:
        rows = session.execute(
            select(ProviderGroup.id, ProviderGroup.provider_batch_id).where(
                ProviderGroup.state.in_(_HELD_BACK),
                ProviderGroup.lifted_at.is_(None),
                ProviderGroup.send_at <= now - LIFT_AFTER,
            )
        ).all()
    lifted = 0
    for group_id, provider_batch_id in rows:
        try:
            sender.lift_batch(provider_batch_id)
        except (RetryableError, PermanentError):
            continue  # tried again on the next pass
        with database.session() as session:
            session.execute(
                update(ProviderGroup)
                .where(ProviderGroup.id == group_id)
                .values(lifted_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        lifted += 1
    return lifted
