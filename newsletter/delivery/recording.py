"""Recording what the provider said about a claimed batch, through the state machines.

Each function is a pair of conditional UPDATEs: the batch row (only while this
worker's ``claim_token`` still holds it) and then its recipients (only those still
``claimed``). If the batch row did not change, nothing else does, and the function
returns False: the claim was lost (its lease ran out and the batch moved on). Every
UPDATE allows only the source states the transition tables in ``models`` list.

A failed recipient records its ``failure`` kind: ``permanent`` when the provider
refused it (with the provider's words), ``transient`` when it was unreachable or busy
until the edition's deadline passed; only the latter may be resent (``resend``).
An accepted request also closes the provider's circuit breaker (``breaker``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import case, literal, or_, select, update
from sqlalchemy.orm import Session

from newsletter.delivery import breaker
from newsletter.delivery.ledger import Claim
from newsletter.delivery.models import (
    BatchState,
    Delivery,
    DeliveryState,
    FailureKind,
    SendBatch,
    sources,
)

_ERROR_LIMIT = 2000
_B = BatchState
_D = DeliveryState
# SendGrid's "processed" event can confirm the batch (reconcile) before this worker
# records the answer: an accepted batch stays accepted and still takes the provider id.
_ACCEPT_FROM = [*sources(_B.ACCEPTED), _B.ACCEPTED]
# The recipients an accepted batch moves (as ``move_recipients`` would: never a failed one).
_RECIPIENTS_ACCEPTED_FROM = [state for state in sources(_D.ACCEPTED) if state is not _D.FAILED]
# Only the claim holder retries; an unknown batch is left to reconciliation, which
# counts its resends.
_RETRY_FROM = sources(_B.PLANNED, among=[_B.SENDING])


def _clip(error: str) -> str:
    return error if len(error) <= _ERROR_LIMIT else error[: _ERROR_LIMIT - 1] + "…"


def _move_batch(
    session: Session, claim: Claim, states: Collection[BatchState], **values: Any
) -> bool:
    result = session.execute(
        update(SendBatch)
        .where(
            SendBatch.id == claim.batch_id,
            SendBatch.claim_token == claim.token,
            SendBatch.state.in_(list(states)),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


# Moves to ``queued`` that only their own UPDATE makes (resend, catch-up).
_OWN_MOVES = frozenset({DeliveryState.FAILED, DeliveryState.SKIPPED})


def move_recipients(session: Session, batch_id: int, to: DeliveryState, **values: Any) -> None:
    """Move a batch's recipients that may become ``to`` (the claimed ones) to ``to``.

    Never a failed or a skipped one: only ``resend`` takes a recipient out of ``failed``
    and only the same-day catch-up out of ``skipped``, each by its own UPDATE, so a
    batch put back to planned keeps the recipients refused on the way.
    """
    allowed = [state for state in sources(to) if state not in _OWN_MOVES]
    session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch_id, Delivery.state.in_(allowed))
        .values(state=to, **values)
        .execution_options(synchronize_session=False)
    )


def fail_recipients(
    session: Session,
    claim: Claim,
    reasons: dict[int, str],
    *,
    now: datetime,
    kind: FailureKind = FailureKind.PERMANENT,
) -> None:
    """Mark some claimed recipients (subscriber id → reason) failed, of the given ``kind``.

    Only while this worker's claim still holds the batch: a worker whose lease ran
    out must not touch recipients another worker has claimed since.
    """
    held = select(SendBatch.id).where(
        SendBatch.id == claim.batch_id, SendBatch.claim_token == claim.token
    )
    by_reason: dict[str, list[int]] = {}
    for subscriber_id, reason in reasons.items():
        by_reason.setdefault(reason, []).append(subscriber_id)
    for reason, subscriber_ids in by_reason.items():
        session.execute(
            update(Delivery)
            .where(
                Delivery.batch_id.in_(held.scalar_subquery()),
                Delivery.subscriber_id.in_(subscriber_ids),
                Delivery.state.in_(sources(DeliveryState.FAILED)),
            )
            .values(
                state=DeliveryState.FAILED, last_error=_clip(reason), failure=kind, updated_at=now
            )
            .execution_options(synchronize_session=False)
        )


def record_accepted(session: Session, claim: Claim, provider_id: str, *, now: datetime) -> bool:
    """The provider took the batch: its claimed recipients are accepted.

    One UPDATE of the recipients (each row is written once, not twice): the claimed
    ones become ``accepted`` with the provider id; those that events or a refusal
    moved on first keep their state and only take the provider id if they have none.
    """
    provider = provider_id[:200] or None
    moved = _move_batch(
        session,
        claim,
        _ACCEPT_FROM,
        state=BatchState.ACCEPTED,
        provider_id=provider,
        lease_until=None,
        error=None,
        updated_at=now,
    )
    if not moved:
        return False
    accepting = Delivery.state.in_(_RECIPIENTS_ACCEPTED_FROM)
    recipients = update(Delivery).where(Delivery.batch_id == claim.batch_id)
    if provider is None:  # nothing for the others to take
        recipients = recipients.where(accepting).values(state=_D.ACCEPTED, updated_at=now)
    else:
        accepted = literal(_D.ACCEPTED, Delivery.state.type)
        recipients = recipients.where(or_(accepting, Delivery.provider_id.is_(None))).values(
            state=case((accepting, accepted), else_=Delivery.state),
            provider_id=provider,
            updated_at=case((accepting, now), else_=Delivery.updated_at),
        )
    session.execute(recipients.execution_options(synchronize_session=False))
    breaker.record_success(session, breaker.EMAIL, now)
    return True


def record_retry(
    session: Session, claim: Claim, error: str, *, not_before: datetime, now: datetime
) -> bool:
    """A retryable failure: the batch waits until ``not_before`` and is claimed afresh."""
    moved = _move_batch(
        session,
        claim,
        _RETRY_FROM,
        state=BatchState.PLANNED,
        not_before=not_before,
        lease_until=None,
        claim_token=None,
        error=_clip(error),
        updated_at=now,
    )
    if moved:
        move_recipients(session, claim.batch_id, DeliveryState.QUEUED, updated_at=now)
    return moved


def record_failed(
    session: Session,
    claim: Claim,
    error: str,
    *,
    now: datetime,
    kind: FailureKind = FailureKind.PERMANENT,
) -> bool:
    """The batch and its claimed recipients fail with ``error`` (the provider's words).

    ``kind`` is ``permanent`` for a refusal, ``transient`` when retries ran into the
    edition's deadline (the recipients may then be resent while it is fresh).
    """
    moved = _move_batch(
        session,
        claim,
        sources(BatchState.FAILED),
        state=BatchState.FAILED,
        lease_until=None,
        error=_clip(error),
        updated_at=now,
    )
    if moved:
        move_recipients(
            session,
            claim.batch_id,
            DeliveryState.FAILED,
            last_error=_clip(error),
            failure=kind,
            updated_at=now,
        )
    return moved


def record_unknown(session: Session, claim: Claim, error: str, *, now: datetime) -> bool:
    """The request left but no answer came: reconciliation decides, never a blind resend."""
    return _move_batch(
        session,
        claim,
        sources(BatchState.UNKNOWN),
        state=BatchState.UNKNOWN,
        unknown_since=now,
        lease_until=None,
        error=_clip(error),
        updated_at=now,
    )
