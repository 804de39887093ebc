"""The pipeline's steps, one function per Celery task: ids in, ids of the next step out.

start (assemble) → render → publish → plan → send batch (many, in parallel) → finalise.
Each step reads the database to decide what to do, so running one twice, or after a
crash half-way, does nothing new: the digest's state, its unique (publication, edition
date) key and the dispatch ledger (one delivery per subscriber, batches claimed before
the provider call) are the truth. Sending a batch is ``batches``; what a tick must
nudge again, and the batches it must enqueue, is ``tick``.

Freshness: until sending begins, a step that finds its edition more than the window
past its time marks the edition and its digest ``missed`` instead of going on.
Once the first batch is planned the edition is finished, however late, because a
half-sent edition is worse than a late one. Planning gives every batch its deadline
(``plan``), which bounds its retries (``newsletter.delivery.deadline``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.content.edition import Cadence
from newsletter.db import Database, utcnow
from newsletter.delivery import deadline, ledger
from newsletter.delivery.ledger import PlanResult
from newsletter.delivery.planning import Timing
from newsletter.delivery.report import finalise
from newsletter.delivery.services import DispatchOptions
from newsletter.digests.models import Digest, DigestState
from newsletter.digests.models import can_transition as digest_can_transition
from newsletter.digests.models import transition as digest_transition
from newsletter.digests.services import (
    EmbargoPending,
    assemble_digest,
    build_edition,
    get_digest,
    publish_digest,
    render_digest,
)
from newsletter.errors import TransitionError
from newsletter.feeds.websub import feed_urls
from newsletter.pipeline.batches import open_batches
from newsletter.publishing import changes
from newsletter.schedules.models import EditionKind, EditionState, ScheduledEdition, transition
from newsletter.schedules.slots import edition_cutoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    """A digest that is public: its publication (to export) and the feed URLs that changed."""

    slug: str
    feed_urls: list[str]


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
    """Assemble a started edition's digest (its daily edition or weekly roundup, as the
    scheduled edition's cadence says, of its slot); its id, or None if there is nothing
    to render. A recurring slot edition takes briefings approved before its slot's
    cut-off; any other edition those approved before its time."""
    edition = session.get(ScheduledEdition, edition_id, with_for_update=True)
    if edition is None or _stopped(session, edition, None, now, window):
        return None
    if edition.slot and edition.cadence is Cadence.DAILY:
        _assemble_earlier_slots(session, edition, now)
    result = _assemble(session, edition, now)
    if result.state is DigestState.SKIPPED:
        return None
    return result.id


def _assemble(session: Session, edition: ScheduledEdition, now: datetime) -> Digest:
    """Assemble (or find) the edition's digest and record it on the edition."""
    result = assemble_digest(
        session,
        edition.publication,
        edition.edition_date,
        now=now,
        cutoff=edition_cutoff(session, edition),
        cadence=edition.cadence,
        slot=edition.slot,
    )
    edition.digest_id = result.digest.id
    session.flush()
    return result.digest


def _assemble_earlier_slots(session: Session, edition: ScheduledEdition, now: datetime) -> None:
    """Assemble first the publication's earlier slot editions started but not assembled yet
    (started by the same tick, after a pause or an outage): a briefing goes into the
    next slot after its approval whatever order the worker runs the steps in. Not
    locked (assembly is idempotent through the unique key; their own steps find it)."""
    earlier = session.scalars(
        select(ScheduledEdition)
        .where(
            ScheduledEdition.publication_id == edition.publication_id,
            ScheduledEdition.cadence == Cadence.DAILY,
            ScheduledEdition.slot != "",
            ScheduledEdition.state == EditionState.STARTED,
            ScheduledEdition.digest_id.is_(None),
            ScheduledEdition.due_at < edition.due_at,
        )
        .order_by(ScheduledEdition.due_at)
    ).all()
    for other in earlier:
        _assemble(session, other, now)


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
    """Make a rendered digest public; what was published, or None to stop here.

    The web app serves the archive and the feeds from the database, listing every
    edition from ``published`` on, so publishing is this state change, and the pending
    public change (static export, hub ping) recorded with it in the same transaction:
    the caller flushes it once committed (``publishing.changes.flush``). Written here,
    a rollback would leave files showing an edition that was never published.
    """
    digest = get_digest(session, digest_id, lock=True)
    if _stopped(session, edition_of(session, digest_id), digest, now, window):
        return None
    if digest.state is DigestState.RENDERED:
        try:
            publish_digest(session, digest.id, now=now)
        except EmbargoPending as exc:
            # Not public before its embargo: the tick nudges this step again (``stalled``).
            log.info("%s", exc)
            return None
        return record_public(session, digest, "edition published by the pipeline")
    if digest.state is not DigestState.PUBLISHED:
        return None
    return Published(digest.publication.slug, feed_urls(build_edition(digest)))


def record_public(session: Session, digest: Digest, reason: str) -> Published:
    """Record that a public edition must reach the static export and the hub (caller commits)."""
    published = Published(digest.publication.slug, feed_urls(build_edition(digest)))
    label = f"{reason}: {digest.edition_date.isoformat()}"
    changes.record(session, published.slug, published.feed_urls, label)
    return published


def plan_step(
    database: Database,
    digest_id: int,
    *,
    now: datetime,
    window: timedelta,
    batch_size: int,
    lead: timedelta = timedelta(0),
) -> list[int]:
    """Plan the edition's deliveries (idempotent); the ids of the batches waiting to go.

    ``lead``: how long before a zone group's instant its batches may go out (the
    schedule lead when the provider holds mail until a send_at, else zero).
    """
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
        plan(database, digest_id, options=options, clock=lambda: now, lead=lead)
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


def timing_of(session: Session, digest: Digest) -> Timing:
    """When each reader's copy of the edition is due (``planning.Timing``).

    An edition of the recurring schedule of a publication that delivers in each
    reader's own time goes out at its send time in each reader's zone; any other
    scheduled edition at its scheduled instant; one sent by hand at once.
    """
    edition = edition_of(session, digest.id)
    if edition is None:
        return Timing()
    publication = digest.publication
    if publication.local_delivery and edition.kind is EditionKind.RECURRING:
        return Timing(
            due_at=edition.due_at,
            local_day=digest.edition_date,
            send_time=publication.send_time,
            default_zone=publication.timezone,
        )
    return Timing(due_at=edition.due_at)


def deadline_for(session: Session, digest_id: int, *, now: datetime, window: timedelta) -> datetime:
    """The edition's deadline: its scheduled time plus ``window``, or ``now`` plus ``window``."""
    due_at = session.scalar(
        select(ScheduledEdition.due_at).where(ScheduledEdition.digest_id == digest_id)
    )
    return (due_at or now) + window


def plan(
    database: Database,
    digest_id: int,
    *,
    options: DispatchOptions | None = None,
    clock: Callable[[], datetime] = utcnow,
    lead: timedelta | None = None,
) -> PlanResult:
    """Plan the edition's deliveries in one transaction (all or nothing), with their deadline.

    The deadline (``send_batches.deliver_by``) of a batch is its zone group's instant
    (the scheduled edition's time, or each zone's local send time) plus the freshness
    window, or now plus the window for an edition sent by hand. ``lead``: how long
    before its instant a zone group's batches may go (the pipeline's schedule lead);
    None, as ``digest send`` plans, sends every group at once, ahead with its send_at.
    """
    options = options or DispatchOptions()
    window = options.freshness_window
    with database.session() as session:
        now = clock()
        # Sending makes an edition public if publishing did not: recorded with the change.
        digest = ledger.lock_digest(session, digest_id, now)
        private = digest.published_at is None
        result = ledger.plan_dispatch(
            session,
            digest_id,
            now=now,
            batch_size=options.batch_size,
            timing=timing_of(session, digest),
            lead=lead,
        )
        deliver_by = deadline_for(session, digest_id, now=now, window=window)
        deadline.set_deadline(session, digest_id, deliver_by, window=window)
        if private:
            record_public(session, get_digest(session, digest_id), "edition sent")
    if result.queued >= ledger.ANALYZE_AFTER:
        # Again after the commit, with the Python pass's rows too: the per-batch UPDATEs
        # would otherwise be planned as scans of the whole table.
        with database.session() as session:
            ledger.refresh_statistics(session)
    return result


def finalise_step(session: Session, digest_id: int) -> DigestState | None:
    """Give the digest its final state once no batch is open; None while one is."""
    return finalise(session, digest_id)
