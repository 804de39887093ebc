"""The pipeline's steps, one function per Celery task: ids in, ids of the next step out.

start (assemble) → render → publish → plan → send batch (many, in parallel) → finalise.
Each step reads the database to decide what to do, so running one twice, or after a
crash half-way, does nothing new: the digest's state, its unique (publication, edition
date) key and the dispatch ledger (one delivery per subscriber, batches claimed before
the provider call) are the truth. ``stalled`` lists what a tick must nudge again,
and ``due_batches`` the batches it must enqueue: only those due, with no message out
for their due time, and only as many as the provider's circuit breaker lets through.

Freshness: until sending begins, a step that finds its edition more than the window
past its time marks the edition and its digest ``missed`` instead of going on.
Once the first batch is planned the edition is finished, however late, because a
half-sent edition is worse than a late one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from newsletter.db import Database
from newsletter.delivery import breaker, gcpause, ledger
from newsletter.delivery.interfaces import EmailSender
from newsletter.delivery.models import OPEN_BATCH_STATES, BatchState, SendBatch
from newsletter.delivery.recording import record_failed
from newsletter.delivery.report import finalise
from newsletter.delivery.services import DispatchOptions, load_edition, plan, send_claimed
from newsletter.digests.models import Digest, DigestState
from newsletter.digests.models import can_transition as digest_can_transition
from newsletter.digests.models import transition as digest_transition
from newsletter.digests.services import (
    assemble_digest,
    build_edition,
    get_digest,
    publish_digest,
    render_digest,
)
from newsletter.errors import TransitionError
from newsletter.feeds.export import export_feeds
from newsletter.feeds.websub import feed_urls
from newsletter.schedules.enqueue import due_batches as due_batches  # the tick's half
from newsletter.schedules.enqueue import forget_message, hold
from newsletter.schedules.enqueue import mark_enqueued as mark_enqueued
from newsletter.schedules.models import EditionState, ScheduledEdition, transition
from subscribers.tokens import Tokens

log = logging.getLogger(__name__)

CANCELLED_WHILE_SENDING = "cancelled by an editor while the edition was being sent"
BEFORE_SENDING = (DigestState.ASSEMBLED, DigestState.RENDERED, DigestState.PUBLISHED)


@dataclass(frozen=True)
class BatchOutcome:
    """What one send-batch step did: the digest it belongs to, and when to try again.

    ``retry_in`` is set only when this attempt failed transiently and the breaker is
    closed (the batch may be enqueued once more for that time); ``recovered`` when this
    attempt closed an open breaker (the waiting batches may go now); ``last`` when no
    batch of the digest was open any more once this one settled (time to finalise).
    """

    digest_id: int
    retry_in: float | None = None  # seconds until a postponed batch is due
    recovered: bool = False
    last: bool = False


@dataclass(frozen=True)
class Published:
    """A digest that is public: its publication (to export) and the feed URLs that changed."""

    slug: str
    feed_urls: list[str]


@dataclass(frozen=True)
class Nudge:
    """One step the tick must enqueue again: a task name and the id it takes."""

    step: str
    id: int


def edition_of(session: Session, digest_id: int) -> ScheduledEdition | None:
    """The scheduled edition that started this digest, if the scheduler started it."""
    return session.scalar(select(ScheduledEdition).where(ScheduledEdition.digest_id == digest_id))


def _stopped(
    session: Session,
    edition: ScheduledEdition | None,
    digest: Digest | None,
    now: datetime,
    window: timedelta,
) -> bool:
    """Whether the pipeline must stop here: cancelled, or too late to start sending."""
    if edition is None:
        return False
    if edition.state is not EditionState.STARTED:
        return True
    if now - edition.due_at <= window:
        return False
    if digest is not None and not digest_can_transition(digest.state, DigestState.MISSED):
        return False  # sending already began: finish it
    reason = f"not sent within {window} of its time ({edition.due_at:%Y-%m-%d %H:%M} UTC)"
    transition(edition, EditionState.MISSED, reason)
    if digest is not None:
        digest_transition(digest, DigestState.MISSED)
    session.flush()
    return True


def assemble_step(
    session: Session, edition_id: int, *, now: datetime, window: timedelta
) -> int | None:
    """Assemble a started edition's digest; its id, or None if there is nothing to render."""
    edition = session.get(ScheduledEdition, edition_id, with_for_update=True)
    if edition is None or _stopped(session, edition, None, now, window):
        return None
    result = assemble_digest(
        session, edition.publication, edition.edition_date, now=now, cutoff=edition.due_at
    )
    edition.digest_id = result.digest.id
    session.flush()
    if result.digest.state is DigestState.SKIPPED:
        return None
    return result.digest.id


def render_step(session: Session, digest_id: int, *, now: datetime, window: timedelta) -> bool:
    """Render the digest once; whether the pipeline goes on."""
    digest = get_digest(session, digest_id, lock=True)
    if _stopped(session, edition_of(session, digest_id), digest, now, window):
        return False
    if digest.state is DigestState.ASSEMBLED:
        render_digest(session, digest_id)
    return digest.state in (DigestState.RENDERED, DigestState.PUBLISHED)


def publish_step(
    session: Session, digest_id: int, *, now: datetime, window: timedelta
) -> Published | None:
    """Make a rendered digest public; what to export and announce, or None to stop here.

    The web app serves the archive and the feeds from the database, listing every
    edition from ``published`` on, so publishing is this state change alone. The
    static copy is written by ``export_public`` once the caller has committed: written
    here, a rollback would leave files showing an edition that was never published.
    """
    digest = get_digest(session, digest_id, lock=True)
    if _stopped(session, edition_of(session, digest_id), digest, now, window):
        return None
    if digest.state is DigestState.RENDERED:
        publish_digest(session, digest.id)
    if digest.state is not DigestState.PUBLISHED:
        return None
    return Published(digest.publication.slug, feed_urls(build_edition(digest)))


def export_public(
    session: Session, slug: str, public_dir: Path, *, hub_url: str | None = None
) -> None:
    """Rewrite a publication's static feeds and archive pages (the same bytes if unchanged)."""
    export_feeds(session, public_dir, publication=slug, hub_url=hub_url)


def plan_step(
    database: Database, digest_id: int, *, now: datetime, window: timedelta, batch_size: int
) -> list[int]:
    """Plan the edition's deliveries (idempotent); the ids of the batches waiting to go."""
    with database.session() as session:
        digest = get_digest(session, digest_id, lock=True)
        edition = edition_of(session, digest_id)
        if _stopped(session, edition, digest, now, window):
            return []
        if digest.state is DigestState.PUBLISHED:
            sendable = True
        else:
            sendable = digest.state is DigestState.SENDING
    if not sendable:
        return []
    options = DispatchOptions(batch_size=batch_size, freshness_window=window)
    try:
        plan(database, digest_id, options=options, clock=lambda: now)
    except TransitionError:
        # A cancel (or a missed mark) landed between the look above and planning's own
        # lock: the edition stopped before anyone was planned, which is not a failure.
        with database.session() as session:
            state = get_digest(session, digest_id).state
        if state in ledger.SENDABLE:
            raise
        log.info("digest %d stopped (%s) before it was planned", digest_id, state.value)
        return []
    with database.session() as session:
        return open_batches(session, digest_id)


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
    with database.session() as session:
        batch = session.get(SendBatch, batch_id)
        if batch is None or batch.state is not BatchState.PLANNED:
            return None
        digest_id = batch.digest_id
        # Hold a share lock on the edition until the claim commits: ``cancel`` locks it
        # for update, so a cancel either commits before this check (and is seen) or
        # waits until the batch is claimed (and counts it as handed over).
        edition = session.scalar(
            select(ScheduledEdition)
            .where(ScheduledEdition.digest_id == digest_id)
            .with_for_update(read=True)
            .execution_options(populate_existing=True)
        )
        if edition is not None and edition.state is EditionState.CANCELLED:
            cancel_sending(session, digest_id, now=now)
            return BatchOutcome(digest_id, last=True)  # finalise waits for any still sending
        if batch.not_before is not None and batch.not_before > now:
            forget_message(session, batch_id)  # arrived early: the tick sends it when due
            return None
        admission = breaker.admit(session, breaker.EMAIL, now, lease=options.lease)
        if not admission.allowed:
            assert admission.wait_until is not None
            hold(session, batch_id, admission.wait_until, now)
            return None
        claim = ledger.claim_batch(session, batch_id, now=now, lease=options.lease)
        deliver_at = edition.due_at if edition is not None else None
        if claim is None and admission.probe:
            breaker.release_probe(session, breaker.EMAIL, now)
    if claim is None:
        return None
    # The claim is committed: only now is the provider called. The batch's thousands of
    # short-lived objects die young instead of setting off full collections (``gcpause``).
    with gcpause.paused():
        shared = load_edition(
            database, digest_id, base_url=base_url, tokens=tokens, deliver_at=deliver_at
        )
        send_claimed(database, claim, shared, sender, options=options)
    with database.session() as session:
        batch = session.get(SendBatch, batch_id)
        assert batch is not None
        if batch.state is BatchState.PLANNED:  # a transient failure: it waits
            if breaker.is_open(session, breaker.EMAIL) or batch.not_before is None:
                return BatchOutcome(digest_id)
            retry_in = max(0.0, (batch.not_before - now).total_seconds())
            return BatchOutcome(digest_id, retry_in)
        taken = batch.state is BatchState.ACCEPTED or batch.state is BatchState.SCHEDULED
        if taken:  # the provider answered: the breaker closes (if recording did not already)
            breaker.record_success(session, breaker.EMAIL, now)
        # Read after this batch's outcome was committed: of batches settling at once, the
        # last to commit sees no other open (the tick finalises whatever slips through).
        last = _open_batch(session, digest_id) is None
    return BatchOutcome(digest_id, recovered=taken and admission.probe, last=last)


def finalise_step(session: Session, digest_id: int) -> DigestState | None:
    """Give the digest its final state once no batch is open; None while one is."""
    return finalise(session, digest_id)


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
    return [Nudge("finalise", digest_id)] if _open_batch(session, digest_id) is None else []


def _open_batch(session: Session, digest_id: int) -> int | None:
    """One batch of the digest still open (planned, sending, scheduled or unknown), if any."""
    return session.scalar(
        select(SendBatch.id)
        .where(SendBatch.digest_id == digest_id, SendBatch.state.in_(list(OPEN_BATCH_STATES)))
        .limit(1)
    )
