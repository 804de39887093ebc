"""Retries bounded by the edition's freshness deadline, not by a count of attempts.

Every batch carries ``deliver_by``: the scheduled edition's ``due_at`` plus the
freshness window, or, for an edition sent by hand, the time it was planned plus the
window (computed when the pipeline plans: ``newsletter.pipeline.steps.plan``). A
transient failure (connection refused, a timeout before the request was written, 429,
5xx, an outbox disk that is full or failing) puts the batch back with a wait: the rate
limit's reset if the provider gave one, else exponential backoff with full jitter,
and never before the circuit breaker's next probe. Only when that
next attempt would fall after ``deliver_by`` are the batch's recipients marked
failed, ``failure=transient``, with the reason and "deadline passed": ``digest
resend`` may still send them while the edition is fresh.

Batches that wait because the breaker is open are not attempted at all; the tick's
``expire_overdue`` fails those whose deadline passed while they waited.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, ScalarSelect, func, select, update
from sqlalchemy.orm import Session, aliased

from newsletter.delivery import breaker, ledger, recording
from newsletter.delivery.breaker import EMAIL, BreakerPolicy
from newsletter.delivery.ledger import Claim
from newsletter.delivery.models import BatchState, FailureKind, SendBatch
from newsletter.digests.models import Digest, DigestState
from newsletter.providers.retry import DEFAULT_BASE_S, DEFAULT_CAP_S, backoff_delay

DEFAULT_WINDOW = timedelta(hours=3)
WAITING = "waiting: the provider's circuit breaker is open"
MISSED_GROUP = "missed: its zone group could not start before the freshness window closed"


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures wait: backoff, the breaker, and the deadline's fallback."""

    freshness_window: timedelta = DEFAULT_WINDOW
    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    provider: str = EMAIL
    rng: random.Random = field(default_factory=random.Random)


def set_deadline(
    session: Session, digest_id: int, deliver_by: datetime, *, window: timedelta | None = None
) -> int:
    """Give every batch of the digest that has none its deadline; how many batches.

    With ``window``, a batch for a zone group (``deliver_at`` set) gets that instant
    plus the window instead: each group is fresh for the same time after its own
    instant, whatever the edition's other groups do. The rest get ``deliver_by``.
    """
    pending = (SendBatch.digest_id == digest_id) & SendBatch.deliver_by.is_(None)
    changed = 0
    if window is not None:
        instants = session.scalars(
            select(SendBatch.deliver_at)
            .where(pending, SendBatch.deliver_at.is_not(None))
            .distinct()
        ).all()
        for instant in instants:
            assert instant is not None
            changed += _update_deadline(
                session, pending & (SendBatch.deliver_at == instant), instant + window
            )
    return changed + _update_deadline(session, pending, deliver_by)


def _update_deadline(session: Session, where: ColumnElement[bool], deliver_by: datetime) -> int:
    result = session.execute(
        update(SendBatch)
        .where(where)
        .values(deliver_by=deliver_by)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _deliver_by(session: Session, batch_id: int, window: timedelta) -> datetime:
    """A batch's deadline; one planned before deadlines existed gets its creation + window."""
    deliver_by, created_at = session.execute(
        select(SendBatch.deliver_by, SendBatch.created_at).where(SendBatch.id == batch_id)
    ).one()
    return deliver_by if deliver_by is not None else created_at + window


def deadline_passed(error: str, deliver_by: datetime) -> str:
    """The reason stored for recipients whose retries ran into the deadline."""
    return f"{error} — deadline passed: not retried after {deliver_by:%Y-%m-%d %H:%M:%S} UTC"


def retry_or_fail(
    session: Session,
    claim: Claim,
    error: str,
    *,
    retry_after: float | None,
    now: datetime,
    policy: RetryPolicy,
) -> datetime | None:
    """Put a batch that failed transiently back with a wait, or fail it past its deadline.

    Returns when it may be tried again, or None if its recipients were failed.
    """
    probe_at = breaker.record_failure(
        session, policy.provider, now, error, policy=policy.breaker, retry_after=retry_after
    )
    wait = backoff_delay(
        max(1, claim.attempts),
        retry_after=retry_after,
        base=policy.base_s,
        cap=policy.cap_s,
        rng=policy.rng,
    )
    not_before = now + timedelta(seconds=wait)
    if probe_at is not None and probe_at > not_before:
        not_before = probe_at
    deliver_by = _deliver_by(session, claim.batch_id, policy.freshness_window)
    if not_before > deliver_by:
        reason = deadline_passed(error, deliver_by)
        recording.record_failed(session, claim, reason, now=now, kind=FailureKind.TRANSIENT)
        return None
    recording.record_retry(session, claim, error, not_before=not_before, now=now)
    if probe_at is not None:
        hold_planned(session, probe_at, now=now)
    return not_before


def _sending_digests() -> ScalarSelect[int]:
    """The ids of editions being sent (a subquery)."""
    return select(Digest.id).where(Digest.state == DigestState.SENDING).scalar_subquery()


def hold_planned(session: Session, until: datetime, *, now: datetime) -> int:
    """While the breaker is open, every planned batch waits for its next probe; how many."""
    result = session.execute(
        update(SendBatch)
        .where(
            SendBatch.digest_id.in_(_sending_digests()),
            SendBatch.state == BatchState.PLANNED,
            (SendBatch.not_before.is_(None)) | (SendBatch.not_before < until),
        )
        .values(not_before=until, error=WAITING, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def expire_overdue(session: Session, *, now: datetime) -> int:
    """Fail (transient) the waiting batches whose deadline passed; how many batches.

    Batches that wait because of trouble (a retry or the open breaker left its reason
    in ``error``) expire. So does every batch of a later zone group none of whose
    batches was ever tried by its deadline: the group is missed, as an edition is
    missed when it cannot start within the window of its time. The edition's first
    group (an edition delivered at one instant has only that one) started when it was
    planned; like any group that started, a batch of it merely not reached yet,
    however late, still goes (half a group sent is worse than a late one).
    """
    other, first = aliased(SendBatch), aliased(SendBatch)
    started = (
        select(other.id)
        .where(
            other.digest_id == SendBatch.digest_id,
            other.deliver_at == SendBatch.deliver_at,
            other.attempts > 0,
        )
        .exists()
    )
    earliest = (
        select(func.min(first.deliver_at))
        .where(first.digest_id == SendBatch.digest_id)
        .scalar_subquery()
    )
    missed = SendBatch.deliver_at.is_not(None) & (SendBatch.deliver_at > earliest) & ~started
    overdue = session.execute(
        select(SendBatch.id, SendBatch.not_before, SendBatch.deliver_by, SendBatch.error).where(
            SendBatch.digest_id.in_(_sending_digests()),
            SendBatch.state == BatchState.PLANNED,
            SendBatch.deliver_by < now,
            SendBatch.error.is_not(None) | missed,
        )
    ).all()
    failed = 0
    for batch_id, not_before, deliver_by, error in overdue:
        at = max(now, not_before or now)  # a postponed batch is claimable at its time
        claim = ledger.claim_batch(session, batch_id, now=at, lease=timedelta(minutes=1))
        if claim is None:
            continue
        reason = deadline_passed(error or MISSED_GROUP, deliver_by or now)
        if recording.record_failed(session, claim, reason, now=now, kind=FailureKind.TRANSIENT):
            failed += 1
    session.flush()
    return failed
