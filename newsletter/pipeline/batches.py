"""Claim and send one batch: the rules every sender follows, the Celery task and ``digest send``.

A planned batch is claimed only if its edition was not cancelled (checked under a
share lock, see ``take_batch``), it is due, and the provider's circuit breaker
admits it. The claim's transaction also reads what the request needs, its edition
and its recipients (``take_ready``), so a batch costs three transactions: the claim,
the request marked started, the outcome. Only once the claim is committed is the
provider called (``send_taken``);
the outcome is recorded by ``newsletter.delivery``, and what is left to do (a retry
time, the breaker recovered, the edition's last batch settled) comes back as a
``BatchOutcome``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.db import Database, utcnow
from newsletter.delivery import breaker, gcpause, ledger
from newsletter.delivery.ledger import Claim
from newsletter.delivery.models import BatchState, SendBatch
from newsletter.delivery.recording import record_failed
from newsletter.delivery.services import (
    Addressed,
    DispatchOptions,
    Edition,
    EditionSource,
    address,
    send_claimed,
)
from newsletter.pipeline.tick import forget_message, hold, open_batch
from newsletter.providers.interfaces import EmailSender
from newsletter.schedules.models import EditionState, ScheduledEdition
from subscribers.tokens import Tokens

CANCELLED_WHILE_SENDING = "cancelled by an editor while the edition was being sent"


@dataclass(frozen=True)
class BatchOutcome:
    """What one send-batch step did: the digest it belongs to, and when to try again.

    ``retry_in`` is set only when this attempt failed transiently and the breaker is
    closed (the batch may be enqueued once more for that time); ``recovered`` when this
    attempt closed an open breaker (the waiting batches may go now); ``last`` when no
    batch of the digest was open any more once this one settled (time to finalise).
    ``settled`` counts the recipients this attempt settled (a progress bar's step).
    """

    digest_id: int
    retry_in: float | None = None  # seconds until a postponed batch is due
    recovered: bool = False
    last: bool = False
    settled: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Take:
    """What the rules made of one planned batch: claimed, or why not (see ``take_batch``)."""

    claim: Claim | None = None  # claimed (committed with the caller's session): send it
    probe: bool = False  # the claim is the breaker's probe
    deliver_at: datetime | None = None  # the batch's zone group's instant, or the edition's
    variant_id: int | None = None  # the topic variant its readers get (None: the full edition)
    cancelled: bool = False  # the edition was cancelled: its unsent batches were failed
    held_until: datetime | None = None  # the breaker is open: the batch waits until then
    edition: Edition | None = None  # what the claimed batch's readers get (``take_ready``)
    addressed: Addressed | None = None  # its recipients, read with the claim


def take_ready(
    session: Session, batch: SendBatch, source: EditionSource, *, now: datetime, lease: timedelta
) -> Take:
    """``take_batch``, and for a claim its edition and recipients, all in ``session``.

    One transaction instead of three: the claim commits together with these reads
    (and the failing of readers erased since planning), so an edition that cannot be
    built leaves the batch unclaimed. Nothing here reaches the provider.
    """
    take = take_batch(session, batch, now=now, lease=lease)
    if take.claim is None:
        return take
    # The batch's thousands of short-lived objects die young (``gcpause``).
    with gcpause.paused():
        edition = source.edition(
            session, take.claim.digest_id, deliver_at=take.deliver_at, variant_id=take.variant_id
        )
        addressed = address(session, take.claim, now=now)
    return replace(take, edition=edition, addressed=addressed)


def take_batch(session: Session, batch: SendBatch, *, now: datetime, lease: timedelta) -> Take:
    """Claim a planned batch if its edition goes on, it is due and the breaker admits it.

    The claim commits with ``session``; the caller calls the provider only after that.
    """
    # Hold a share lock on the edition until the claim commits: ``cancel`` locks it
    # for update, so a cancel either commits before this check (and is seen) or
    # waits until the batch is claimed (and counts it as handed over).
    edition = session.scalar(
        select(ScheduledEdition)
        .where(ScheduledEdition.digest_id == batch.digest_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )
    if edition is not None and edition.state is EditionState.CANCELLED:
        cancel_sending(session, batch.digest_id, now=now)
        return Take(cancelled=True)
    if batch.not_before is not None and batch.not_before > now:
        forget_message(session, batch.id)  # arrived early: the tick sends it when due
        return Take()
    admission = breaker.admit(session, breaker.EMAIL, now, lease=lease)
    if not admission.allowed:
        assert admission.wait_until is not None
        hold(session, batch.id, admission.wait_until, now)
        return Take(held_until=admission.wait_until)
    claim = ledger.claim_batch(session, batch.id, now=now, lease=lease)
    if claim is None and admission.probe:
        breaker.release_probe(session, breaker.EMAIL, now)
    deliver_at = batch.deliver_at
    if deliver_at is None and edition is not None:
        deliver_at = edition.due_at  # planned before batches carried their instant
    return Take(claim, admission.probe, deliver_at, variant_id=batch.variant_id)


def open_batches(session: Session, digest_id: int) -> list[int]:
    """The digest's batches still waiting to be claimed, lowest number first."""
    return list(
        session.scalars(
            select(SendBatch.id)
            .where(SendBatch.digest_id == digest_id, SendBatch.state == BatchState.PLANNED)
            .order_by(SendBatch.number)
        )
    )


def cancel_sending(session: Session, digest_id: int, *, now: datetime) -> int:
    """Fail every batch of the digest not yet claimed, as cancelled; how many batches."""
    stopped = 0
    for batch_id in open_batches(session, digest_id):
        batch = session.get(SendBatch, batch_id)
        assert batch is not None
        at = max(now, batch.not_before or now)  # a postponed batch is claimable at its time
        claim = ledger.claim_batch(session, batch_id, now=at, lease=timedelta(minutes=1))
        if claim is not None and record_failed(session, claim, CANCELLED_WHILE_SENDING, now=now):
            stopped += 1
    session.flush()
    return stopped


def send_taken(
    database: Database,
    take: Take,
    sender: EmailSender,
    *,
    options: DispatchOptions,
    now: datetime,
    clock: Callable[[], datetime] | None = None,
    find_last: bool = True,
) -> BatchOutcome:
    """Send a claimed batch (from ``take_ready``), record the outcome, say what is left to do.

    ``now`` dates the outcome (a retry's wait, the breaker's success); ``clock``, if
    given, dates what the sending records (else the time of each record).
    ``find_last``: whether to look, once the outcome is committed, for an open batch
    of the digest (``BatchOutcome.last``); a caller that finalises anyway skips it.
    """
    claim, edition, addressed = take.claim, take.edition, take.addressed
    assert claim is not None
    assert edition is not None
    assert addressed is not None
    timed: dict[str, Callable[[], datetime]] = {} if clock is None else {"clock": clock}
    # The claim is committed: only now is the provider called. The batch's thousands of
    # short-lived objects die young instead of setting off full collections (``gcpause``).
    with gcpause.paused():
        sent = send_claimed(
            database, claim, edition, sender, addressed=addressed, options=options, **timed
        )
    digest_id, settled = claim.digest_id, sent.settled
    if sent.taken:  # recorded as accepted or scheduled, which closed the breaker
        if not find_last:
            return BatchOutcome(digest_id, recovered=take.probe, settled=settled)
        with database.session() as session:
            last = open_batch(session, digest_id) is None  # read after the record committed
        return BatchOutcome(digest_id, recovered=take.probe, last=last, settled=settled)
    with database.session() as session:
        batch = session.get(SendBatch, claim.batch_id)
        assert batch is not None
        if batch.state is BatchState.PLANNED:  # a transient failure: it waits
            if breaker.is_open(session, breaker.EMAIL) or batch.not_before is None:
                return BatchOutcome(digest_id, settled=settled)
            # From the time of the record, not the task's start: a slow send must not
            # add its own duration to the provider's wait.
            current = clock() if clock is not None else utcnow()
            retry_in = max(0.0, (batch.not_before - current).total_seconds())
            return BatchOutcome(digest_id, retry_in, settled=settled)
        taken = batch.state is BatchState.ACCEPTED or batch.state is BatchState.SCHEDULED
        if taken:  # the provider answered: the breaker closes (if recording did not already)
            breaker.record_success(session, breaker.EMAIL, now)
        # Read after this batch's outcome was committed: of batches settling at once, the
        # last to commit sees no other open (the tick finalises whatever slips through).
        last = open_batch(session, digest_id) is None
    return BatchOutcome(digest_id, recovered=taken and take.probe, last=last, settled=settled)


def send_batch_step(
    database: Database,
    batch_id: int,
    sender: EmailSender,
    *,
    now: datetime,
    base_url: str,
    tokens: Tokens,
    lease: timedelta,
    options: DispatchOptions | None = None,
) -> BatchOutcome | None:
    """Claim one batch and send it; None if it is gone, taken, not due or held by the breaker.

    A batch not yet due, or held because the provider's breaker is open, is left for
    the tick to enqueue when due: it never re-enqueues itself while it waits.
    """
    options = options or DispatchOptions(lease=lease)
    source = EditionSource(database, base_url, tokens)
    with database.session() as session:
        batch = session.get(SendBatch, batch_id)
        if batch is None or batch.state is not BatchState.PLANNED:
            return None
        digest_id = batch.digest_id
        take = take_ready(session, batch, source, now=now, lease=options.lease)
    if take.cancelled:
        return BatchOutcome(digest_id, last=True)  # finalise waits for any still sending
    if take.claim is None:
        return None
    return send_taken(database, take, sender, options=options, now=now)
