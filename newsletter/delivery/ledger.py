"""The dispatch ledger: plan an edition's deliveries once, claim a batch before sending, record.

Every function takes a ``Session``; the caller commits. The order that makes
"exactly once" hold is: ``claim_batch`` and COMMIT, then call the provider, then
one ``record_*`` and COMMIT. A claim is a conditional UPDATE (``WHERE state =
'planned'``), so of two workers racing for one batch exactly one sees a changed
row; the loser moves on. Recording is conditional on the claim token, so a worker
whose lease ran out cannot overwrite what happened after it.

Planning (its queries are in ``roster``) queues the plain subscribers in one
statement and streams the rest through ``planning.skip_reason`` page by page, so
memory stays flat whether the list holds a hundred or a million subscribers.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from newsletter.content.briefing import BriefingContent
from newsletter.content.edition import Cadence
from newsletter.db import utcnow
from newsletter.delivery import roster
from newsletter.delivery.cells import Planner
from newsletter.delivery.models import (
    BatchState,
    Delivery,
    DeliveryState,
    SendBatch,
    SkipReason,
    sources,
)
from newsletter.delivery.planning import (
    Timing,
    iter_cells,
    select_recipients,
)
from newsletter.digests.models import Digest, DigestState, transition
from newsletter.digests.services import get_digest
from newsletter.errors import NotFoundError, TransitionError
from newsletter.parsing import WEEKDAYS
from newsletter.providers.interfaces import MAX_RECIPIENTS_PER_BATCH
from subscribers.models import Subscriber
from subscribers.services import ensure_default_list

PAGE = 5000
# After loading this many rows, PostgreSQL's planner needs fresh statistics, or the next
# queries may be planned as if the (formerly empty) ledger were still empty.
ANALYZE_AFTER = 10_000
# Editions in these states may (re)start sending; a failed or partly failed one
# sends only to recipients not yet in the ledger and retries nothing already final.
SENDABLE = frozenset(
    {
        DigestState.RENDERED,
        DigestState.PUBLISHED,
        DigestState.SENDING,
        DigestState.PARTIALLY_FAILED,
        DigestState.FAILED,
    }
)


@dataclass(frozen=True)
class PlanResult:
    """What one planning pass added to the ledger."""

    digest_id: int
    batches: int
    queued: int
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """A batch this worker holds: only the holder of ``token`` may record its outcome."""

    batch_id: int
    digest_id: int
    number: int
    attempts: int
    resends: int
    token: str


class Addressee(NamedTuple):
    """One claimed recipient, as the message composer needs it (a tuple: made per recipient)."""

    subscriber_id: int
    list_id: int
    email: str
    name: str


def edition_topics(digest: Digest) -> set[str]:
    """Every topic of the edition's briefings (subscribers choosing one of them get it)."""
    topics: set[str] = set()
    for item in digest.items:
        topics.update(BriefingContent.model_validate(item.content).topic_names)
    return topics


def lock_digest(session: Session, digest_id: int, now: datetime) -> Digest:
    """The digest, read only after taking its write lock, so its state is current.

    Writing first is what makes this portable: PostgreSQL locks the row, SQLite the
    database, so a second planner waits here and then sees the first one's work.
    """
    touched = session.execute(
        update(Digest)
        .where(Digest.id == digest_id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if touched.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFoundError(f"unknown digest {digest_id}")
    return get_digest(session, digest_id, populate=True)


def start_sending(session: Session, digest_id: int, now: datetime) -> Digest | None:
    """Lock the digest and move it to ``sending``; None if it was sent meanwhile."""
    digest = lock_digest(session, digest_id, now)
    if digest.state is DigestState.SENT:
        return None
    if digest.state not in SENDABLE:
        raise TransitionError(f"{digest.label()} is {digest.state.value}: it cannot be sent")
    if digest.state is not DigestState.SENDING:
        transition(digest, DigestState.SENDING)
        session.flush()
    return digest


def plan_dispatch(
    session: Session,
    digest_id: int,
    *,
    now: datetime | None = None,
    batch_size: int = MAX_RECIPIENTS_PER_BATCH,
    page: int = PAGE,
    timing: Timing | None = None,
    lead: timedelta | None = timedelta(0),
) -> PlanResult:
    """Put every reader of the edition in the ledger once: queued in a batch, or skipped.

    The readers are the list's subscriptions that chose the edition's kind of mail
    (``roster.Audience``): the digest at its cadence, or alerts on its topics. Every
    batch holds readers who get the same email at the same instant: one topic variant
    (rendered here, once per distinct selection) and one zone group's ``deliver_at``
    (``timing``), claimable from ``lead`` before it (None: at once). An alert has
    neither: every reader gets it whole, at once. Running again adds only readers not
    yet in the ledger (counted as ``already_sent`` otherwise), so it is safe to repeat
    after a crash or a retry.
    """
    if not 1 <= batch_size <= MAX_RECIPIENTS_PER_BATCH:
        raise ValueError(
            f"batch_size must be between 1 and {MAX_RECIPIENTS_PER_BATCH}, got {batch_size}"
        )
    now = now or utcnow()
    timing = timing or Timing()
    digest = start_sending(session, digest_id, now)
    if digest is None:
        # A concurrent dispatch finished it between our caller's look and our lock.
        return PlanResult(digest_id, batches=0, queued=0)
    if digest.cadence is Cadence.ALERT:
        # An alert goes at once to every reader, in every zone: no zone groups.
        timing = Timing()
    publication = digest.publication
    mailing_list = ensure_default_list(session, publication)
    weekday = WEEKDAYS[digest.edition_date.weekday()]
    audience = roster.Audience(
        mailing_list.id,
        digest.cadence,
        weekday if digest.cadence is Cadence.WEEKLY else None,
        default_zone=publication.timezone,
    )
    if session.get_bind().dialect.name == "postgresql":
        # Planning groups, sorts and hashes every reader of the list by (zone, topics,
        # language); at the default 4 MB those spill to disk from about 100,000 readers,
        # at 64 MB from about 500,000 (one transaction at a time needs this much).
        session.execute(text("SET LOCAL work_mem = '256MB'"))
    planner = Planner(session, digest, timing, lead, now)
    counts: Counter[str] = Counter()
    already = roster.already_planned(session, digest_id, mailing_list.id)
    if already:
        counts[SkipReason.ALREADY_SENT.value] = already
    # Most readers differ only by zone and topics: the database queues them in bulk,
    # a cell (one email, one instant) per distinct pair; Python judges the rest.
    batches, queued = roster.plan_cells(
        session,
        digest_id,
        audience,
        planner.bulk_cells(audience),
        now=now,
        after=roster.last_batch_number(session, digest_id),
        batch_size=batch_size,
    )
    if queued >= ANALYZE_AFTER:
        # Before the Python pass asks who is left: planned with the ledger as it now is
        # (the readers just queued, not the empty table of the last statistics), its
        # query hashes the ledger once instead of joining every reader's rows first.
        # ANALYZE keeps its lock until this transaction ends: another large plan
        # waits for this one here (claims and records do not), autovacuum gives way.
        refresh_statistics(session)
    number = roster.last_batch_number(session, digest_id)
    selections = select_recipients(
        roster.candidates(session, digest_id, audience, page), edition_topics(digest), now
    )
    for (deliver_at, variant_id), chunk in iter_cells(
        planner.cells(planner.sendable(selections, counts)), batch_size
    ):
        number += 1
        batch_id = session.execute(
            insert(SendBatch).returning(SendBatch.id),
            {
                "digest_id": digest_id,
                "number": number,
                "size": len(chunk),
                "variant_id": variant_id,
                "deliver_at": deliver_at,
                "not_before": planner.claim_from(deliver_at),
                "created_at": now,
            },
        ).scalar_one()
        roster.insert_deliveries(
            session,
            [
                {
                    "digest_id": digest_id,
                    "subscriber_id": selection.subscriber_id,
                    "list_id": selection.list_id,
                    "batch_id": batch_id,
                    "variant_id": variant_id,
                    "state": DeliveryState.QUEUED,
                    "updated_at": now,
                }
                for selection in chunk
            ],
        )
        planner.count(
            deliver_at, {selection.zone or publication.timezone for selection in chunk}, len(chunk)
        )
        batches += 1
        queued += len(chunk)
    planner.flush_skipped()
    planner.write_zone_groups()
    return PlanResult(digest_id, batches=batches, queued=queued, skipped=dict(counts))


def refresh_statistics(session: Session) -> None:
    """Let PostgreSQL's planner see the rows a large plan just loaded (no-op on SQLite)."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text("ANALYZE deliveries, send_batches"))


# -- claiming ---------------------------------------------------------------------------


def next_due(session: Session, digest_id: int, now: datetime) -> SendBatch | None:
    """The lowest-numbered batch waiting to be sent and due by ``now`` (one query)."""
    return session.scalar(
        select(SendBatch)
        .where(
            SendBatch.digest_id == digest_id,
            SendBatch.state == BatchState.PLANNED,
            or_(SendBatch.not_before.is_(None), SendBatch.not_before <= now),
        )
        .order_by(SendBatch.number)
        .limit(1)
    )


def next_due_batch(session: Session, digest_id: int, now: datetime) -> int | None:
    """The id of the lowest-numbered batch waiting to be sent and due by ``now``."""
    batch = next_due(session, digest_id, now)
    return None if batch is None else batch.id


def sending_digests(session: Session) -> list[int]:
    """Every edition in the ``sending`` state, by id."""
    query = select(Digest.id).where(Digest.state == DigestState.SENDING).order_by(Digest.id)
    return list(session.scalars(query))


def has_planned(session: Session, digest_id: int) -> bool:
    """Whether the edition has a batch waiting to be sent (due or not)."""
    query = select(SendBatch.id).where(
        SendBatch.digest_id == digest_id, SendBatch.state == BatchState.PLANNED
    )
    return session.scalar(query.limit(1)) is not None


def next_wake_up(session: Session, digest_id: int) -> datetime | None:
    """When the earliest postponed batch of the digest becomes due (None if none waits)."""
    return session.scalar(
        select(func.min(SendBatch.not_before)).where(
            SendBatch.digest_id == digest_id, SendBatch.state == BatchState.PLANNED
        )
    )


def claim_batch(
    session: Session, batch_id: int, *, now: datetime, lease: timedelta
) -> Claim | None:
    """Take a planned, due batch for this worker, or None if another worker has it.

    The caller must commit before calling the provider: the committed claim is what
    keeps a duplicated task from sending the same recipients again.
    """
    token = secrets.token_hex(16)
    taken = session.execute(
        update(SendBatch)
        .where(
            SendBatch.id == batch_id,
            SendBatch.state.in_(sources(BatchState.SENDING)),
            or_(SendBatch.not_before.is_(None), SendBatch.not_before <= now),
        )
        .values(
            state=BatchState.SENDING,
            claim_token=token,
            claimed_at=now,
            request_started_at=None,
            lease_until=now + lease,
            attempts=SendBatch.attempts + 1,
            updated_at=now,
        )
        .returning(SendBatch.digest_id, SendBatch.number, SendBatch.attempts, SendBatch.resends)
        .execution_options(synchronize_session=False)
    ).first()
    if taken is None:
        return None
    session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch_id, Delivery.state.in_(sources(DeliveryState.CLAIMED)))
        .values(state=DeliveryState.CLAIMED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return Claim(batch_id, taken[0], taken[1], taken[2], taken[3], token)


def mark_started(session: Session, claim: Claim, *, now: datetime) -> bool:
    """Record that the provider is about to be called for this claim (commit before calling).

    Until this mark is committed nothing can have reached the provider, so a claim
    whose lease runs out without it is released at once instead of reconciled.
    """
    moved = session.execute(
        update(SendBatch)
        .where(
            SendBatch.id == claim.batch_id,
            SendBatch.claim_token == claim.token,
            SendBatch.state == BatchState.SENDING,
        )
        .values(request_started_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount == 1)  # type: ignore[attr-defined]


def addressees(session: Session, batch_id: int) -> tuple[list[Addressee], list[int]]:
    """The claimed recipients of a batch, and the subscriber ids erased since planning."""
    query = (
        select(Delivery.subscriber_id, Delivery.list_id, Subscriber.email, Subscriber.name)
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.batch_id == batch_id, Delivery.state == DeliveryState.CLAIMED)
        .order_by(Delivery.subscriber_id)
    )
    rows = session.connection().execute(query).all()  # Core: no ORM bookkeeping per row
    found = [Addressee(*r) for r in rows if r[2] is not None]
    gone = [r[0] for r in rows if r[2] is None]
    return found, gone
