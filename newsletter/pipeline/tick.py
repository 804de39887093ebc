"""What the periodic tick enqueues: stalled steps, and due batches (work proportional to work).

``stalled`` lists the steps that should have run by now and did not (their message
lost, or their worker dead): the tick enqueues each again.

A ``send_batch`` message costs a broker round trip and a worker's attention, so one
is sent for a batch only when the batch is due and no message is out for that time
(``send_batches.enqueued_for``). A batch that is not due yet, or held because the
provider's circuit breaker is open, sends itself no message while it waits: the tick
enqueues it when it is due, and while the breaker is open only one probe at a time.
Through an outage the messages stay proportional to batches, not to the time spent.

``expire_due`` takes published briefings whose ``Expires:`` time has passed out of
pages and feeds (``newsletter.publishing.expiry``), recording their public changes
for the same tick's ``publish_changes``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from newsletter.briefings.models import Briefing
from newsletter.delivery import breaker
from newsletter.delivery.breaker import Gate
from newsletter.delivery.deadline import WAITING, expire_overdue
from newsletter.delivery.models import OPEN_BATCH_STATES, BatchState, SendBatch
from newsletter.digests.models import Digest, DigestState
from newsletter.publishing.corrections import expire_briefing
from newsletter.publishing.expiry import due_expiries
from newsletter.schedules.models import EditionState, ScheduledEdition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Nudge:
    """One step the tick must enqueue again: a task name and the id it takes."""

    step: str
    id: int


def stalled(session: Session, now: datetime, stall_after: timedelta) -> list[Nudge]:
    """Every step that should have run by now and did not (its message lost or its worker dead).

    Started editions are never moved on once their digest takes over, so they pile up
    day after day: the filter keeps only those still before sending, in SQL, so a
    tick costs the same number of statements however many editions went out before.
    """
    before = now - stall_after
    next_step = {
        DigestState.ASSEMBLED: "render",
        DigestState.RENDERED: "publish",
        DigestState.PUBLISHED: "plan",
    }
    rows = session.execute(
        select(ScheduledEdition.id, Digest.id, Digest.state)
        .outerjoin(Digest, Digest.id == ScheduledEdition.digest_id)
        .where(
            ScheduledEdition.state == EditionState.STARTED,
            or_(
                and_(ScheduledEdition.digest_id.is_(None), ScheduledEdition.updated_at <= before),
                and_(Digest.state.in_(list(next_step)), Digest.updated_at <= before),
            ),
        )
        .order_by(ScheduledEdition.id)
    ).all()
    nudges = [
        Nudge("assemble", edition_id) if digest_id is None else Nudge(next_step[state], digest_id)
        for edition_id, digest_id, state in rows
    ]
    for digest_id in session.scalars(
        select(Digest.id).where(Digest.state == DigestState.SENDING).order_by(Digest.id)
    ):
        nudges.extend(_stalled_sending(session, digest_id, before))
    return nudges


def _stalled_sending(session: Session, digest_id: int, before: datetime) -> list[Nudge]:
    """Finalise a sending digest none of whose batches is open (due batches: ``due_batches``)."""
    return [Nudge("finalise", digest_id)] if open_batch(session, digest_id) is None else []


def open_batch(session: Session, digest_id: int) -> int | None:
    """One batch of the digest still open (planned, sending, scheduled or unknown), if any."""
    return session.scalar(
        select(SendBatch.id)
        .where(SendBatch.digest_id == digest_id, SendBatch.state.in_(list(OPEN_BATCH_STATES)))
        .limit(1)
    )


def forget_message(session: Session, batch_id: int) -> None:
    """A message reached a batch before it was due: none is out for its due time now."""
    session.execute(
        update(SendBatch)
        .where(SendBatch.id == batch_id, SendBatch.state == BatchState.PLANNED)
        .values(enqueued_for=None, updated_at=SendBatch.updated_at)  # not a change of the batch
        .execution_options(synchronize_session=False)
    )


def hold(session: Session, batch_id: int, until: datetime, now: datetime) -> None:
    """The breaker is open: the batch waits for its next probe time (the tick enqueues it)."""
    session.execute(
        update(SendBatch)
        .where(
            SendBatch.id == batch_id,
            SendBatch.state == BatchState.PLANNED,
            or_(SendBatch.not_before.is_(None), SendBatch.not_before < until),
        )
        .values(not_before=until, error=WAITING, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def mark_enqueued(session: Session, batch_id: int, at: datetime) -> None:
    """Record that a message for the batch will reach a worker at ``at``."""
    session.execute(
        update(SendBatch)
        .where(SendBatch.id == batch_id)
        .values(enqueued_for=at, updated_at=SendBatch.updated_at)  # not a change of the batch
        .execution_options(synchronize_session=False)
    )


def due_batches(
    session: Session,
    now: datetime,
    stall_after: timedelta,
    *,
    digest_id: int | None = None,
    expire: bool = True,
) -> list[int]:
    """The batches to enqueue now, marked as enqueued (the caller commits, then sends).

    A planned batch of an edition being sent needs a message when it is due and none is
    out for it: never sent one, changed since its message was due (claimed and put
    back, released, held by the breaker), or its message is overdue by ``stall_after``
    (lost by the broker, or dropped). While the breaker is open nothing is enqueued;
    once its probe time has passed, one batch is (the probe). Batches whose deadline
    passed while they waited on trouble are failed first (``expire``).
    """
    if expire:
        expire_overdue(session, now=now)
    state = breaker.gate(session, breaker.EMAIL, now)
    if state is Gate.OPEN:
        return []
    digests = (
        [digest_id]
        if digest_id is not None
        else list(session.scalars(select(Digest.id).where(Digest.state == DigestState.SENDING)))
    )
    if not digests:
        return []
    query = (
        select(SendBatch.id)
        .where(
            SendBatch.digest_id.in_(digests),
            SendBatch.state == BatchState.PLANNED,
            or_(SendBatch.not_before.is_(None), SendBatch.not_before <= now),
            or_(
                SendBatch.enqueued_for.is_(None),
                SendBatch.enqueued_for <= SendBatch.updated_at,
                SendBatch.enqueued_for <= now - stall_after,
            ),
        )
        .order_by(SendBatch.digest_id, SendBatch.number)
    )
    if state is Gate.PROBE:
        query = query.limit(1)
    batch_ids = list(session.scalars(query))
    if batch_ids:
        session.execute(
            update(SendBatch)
            .where(SendBatch.id.in_(batch_ids))
            .values(enqueued_for=now, updated_at=SendBatch.updated_at)  # not a change
            .execution_options(synchronize_session=False)
        )
    return batch_ids


def expire_due(session: Session, now: datetime) -> list[int]:
    """Expire every published briefing whose ``Expires:`` time has passed; their ids.

    Each briefing in its own savepoint: one that cannot be expired is logged and left
    for the next tick, and never holds back the others or the tick's other work. The
    caller commits; the public changes recorded go out with ``publish_changes``.
    """
    done: list[int] = []
    for briefing_id in due_expiries(session, now):
        try:
            with session.begin_nested():
                # Locked and read afresh: a concurrent tick may have expired it meanwhile.
                briefing = session.get_one(
                    Briefing, briefing_id, with_for_update=True, populate_existing=True
                )
                expire_briefing(session, briefing, now=now)
        except Exception:  # a sweep: one bad briefing must not stop the tick that sends editions
            log.exception(
                "briefing %d could not be expired; the next tick tries again", briefing_id
            )
            continue
        done.append(briefing_id)
    return done
