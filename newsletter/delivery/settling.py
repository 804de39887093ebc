"""The settle pass over provider batch ids sent ahead: cancel, re-plan, release, lift.

Every tick (and every lost answer of a request sent ahead) runs ``settle``: groups
with a lost answer start cancelling while in time (``mark_lost``); the provider is
asked to cancel each and read back (``cancel_group``, at most ``CANCEL_LIMIT`` held
at once); only a confirmed cancel re-plans its requests (``replan_cancelled``) or,
for an editor's withdrawal, fails them (``fail_withdrawn``); groups whose send_at
passed uncancelled are released (``release_due``); those that reached the cutoff
unconfirmed fall back to event reconciliation (``give_up_late``); old cancels are
lifted to give the provider's budget back. Why this is exactly once: ``scheduling``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from newsletter.db import Database
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
from newsletter.delivery.scheduling import HELD_BACK, TO_CANCEL, cancellable_until, move_groups
from newsletter.errors import PermanentError, RetryableError
from newsletter.providers.interfaces import CANCEL_LIMIT, EmailSender, ScheduledSender

# A cancelled batch id is lifted this long after its send_at (its mail was discarded
# at send_at), giving back one of the provider's ten cancellations.
LIFT_AFTER = timedelta(hours=1)
CANCELLED_AGAIN = "provider batch id {batch_id} was cancelled after a lost answer; sent again"
WITHDRAWN = "cancelled by an editor; provider batch id {batch_id} was cancelled before its send_at"
NOT_CANCELLED = "provider batch id {batch_id} could not be cancelled before the cutoff: {why}"
_G = GroupState


@dataclass(frozen=True)
class Settled:
    """What one ``settle`` pass did."""

    cancelled: int = 0
    replanned: int = 0
    withdrawn: int = 0
    released: int = 0
    gave_up: int = 0
    lifted: int = 0


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
    return move_groups(session, in_time, _G.CANCELLING, now)


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
        move_groups(session, [group.id], TO_CANCEL[group.state], now, error=None)
        return True
    if why:
        error = NOT_CANCELLED.format(batch_id=group.provider_batch_id, why=why)
        move_groups(session, [group.id], _G.RELEASED, now, error=error[:2000])
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
                ProviderGroup.state.in_([_G.OPEN, *TO_CANCEL]), ProviderGroup.send_at <= now
            )
        )
    )
    move_groups(session, due, _G.RELEASED, now)
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
            ProviderGroup.state.in_(list(TO_CANCEL))
        )
    ).all()
    late = 0
    for group_id, provider_batch_id, send_at in rows:
        if now >= cancellable_until(send_at):
            why = "the cancel was not confirmed in time"
            error = NOT_CANCELLED.format(batch_id=provider_batch_id, why=why)
            late += move_groups(session, [group_id], _G.RELEASED, now, error=error)
    return late


def cancels_in_use(session: Session) -> int:
    """Batch ids we hold cancelled at the provider (they count against its limit of ten)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ProviderGroup)
            .where(ProviderGroup.state.in_(HELD_BACK), ProviderGroup.lifted_at.is_(None))
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
                    .where(ProviderGroup.state.in_(list(TO_CANCEL)))
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
                ProviderGroup.state.in_(HELD_BACK),
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
