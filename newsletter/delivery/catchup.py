"""Same-day catch-up: a reader who confirms after today's edition went out still gets it.

Only while the edition is fresh (before its deadline, ``send_batches.deliver_by``:
the freshness window after its time, as retries and ``digest resend`` use), only a
daily edition (a weekly roundup or an alert is not caught up), and only once: the
reader joins the edition's ledger as one more recipient, ``late`` true, in a new
batch of that digest with their topic variant, sent by the worker like any batch.

The tick runs ``plan_late_readers``: for each fresh daily edition that went out (its
time, or its last zone group's, has come), the newest of its publication, it looks for
subscriptions of the publication's list confirmed since the edition was planned (less a
margin) that are not in its ledger, or are in it only
as skipped for a reason the confirmation removed (unconfirmed, unsubscribed,
suppressed). Each is judged by the same rules as planning (``planning.skip_reason``:
paused, topics that match nothing), and, under the digest's write lock (taken first,
as planning does, so two ticks cannot add one reader twice), queued. A sent edition
goes back to ``sending`` until the late batch settles. Imports are never caught up:
they never mail (as they owe no welcome).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from newsletter.content.edition import Cadence
from newsletter.delivery import ledger, roster
from newsletter.delivery.cells import Planner
from newsletter.delivery.models import Delivery, DeliveryState, SendBatch, SkipReason, sources
from newsletter.delivery.planning import Candidate, Timing, skip_reason
from newsletter.digests.models import Digest, DigestState, transition
from newsletter.providers.interfaces import MAX_RECIPIENTS_PER_BATCH
from subscribers.models import (
    Consent,
    ConsentSource,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionState,
)
from subscribers.suppression import suppression_of

# An edition that went out (or is going out): a late reader can still join it.
WENT_OUT = (
    DigestState.SENDING,
    DigestState.SENT,
    DigestState.PARTIALLY_FAILED,
    DigestState.FAILED,
)
# Skipped for a reason a later confirmation takes away: such a row is queued late.
REOPENED = (SkipReason.UNCONFIRMED, SkipReason.UNSUBSCRIBED, SkipReason.SUPPRESSED)
# Freshness windows are hours: editions older than this are not even looked at.
LOOK_BACK = timedelta(days=2)
# A confirmation committed while planning ran may have been missed by it though it is
# dated just before the first batch: readers confirmed this long before count too
# (one already in the ledger is never added again, so the margin costs nothing).
PLANNING_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class FreshEdition:
    """A daily edition that went out and is still fresh."""

    digest_id: int
    publication_id: int
    planned_at: datetime  # its first batch's creation: readers confirmed since are late
    deliver_by: datetime  # its deadline


@dataclass(frozen=True)
class CaughtUp:
    """What one catch-up pass queued, per digest: late readers and the new batches."""

    readers: dict[int, int]
    batch_ids: list[int]


def fresh_editions(session: Session, now: datetime) -> list[FreshEdition]:
    """The newest fresh daily edition of each publication that went out.

    "Went out" means its time has come: an edition sent ahead (SendGrid's ``send_at``)
    or by zone groups is not caught up before its last instant, so a late reader never
    gets it before the readers who were on time.
    """
    rows = session.execute(
        select(
            Digest.id,
            Digest.publication_id,
            func.min(SendBatch.created_at),
            func.max(SendBatch.deliver_by),
            func.max(SendBatch.deliver_at),
        )
        .join(SendBatch, SendBatch.digest_id == Digest.id)
        .where(
            Digest.cadence == Cadence.DAILY,
            Digest.state.in_(WENT_OUT),
            Digest.edition_date >= (now - LOOK_BACK).date(),
        )
        .group_by(Digest.id, Digest.publication_id)
    ).all()
    newest: dict[int, FreshEdition] = {}
    for digest_id, publication_id, planned_at, deliver_by, last_instant in rows:
        if deliver_by is None or deliver_by <= now:
            continue
        if last_instant is not None and last_instant > now:
            continue  # sent ahead, or a zone group still to come: not out yet
        found = newest.get(publication_id)
        if found is None or (planned_at, digest_id) > (found.planned_at, found.digest_id):
            newest[publication_id] = FreshEdition(digest_id, publication_id, planned_at, deliver_by)
    return sorted(newest.values(), key=lambda edition: edition.digest_id)


def _confirmed_by_reader() -> object:
    """The subscription's current confirmation was not an import's (an import never mails)."""
    return (
        select(Consent.id)
        .where(
            Consent.subscriber_id == Subscription.subscriber_id,
            Consent.list_id == Subscription.list_id,
            Consent.to_state == SubscriptionState.CONFIRMED.value,
            Consent.at == Subscription.confirmed_at,
            Consent.source != ConsentSource.IMPORT,
        )
        .exists()
    )


def late_candidates(session: Session, edition: FreshEdition, list_id: int) -> list[Candidate]:
    """Readers of the list confirmed since the edition was planned and not in its ledger.

    "Not in its ledger" also covers a row skipped for a reason the confirmation removed.
    """
    query = (
        select(
            Subscription.subscriber_id,
            Subscriber.email,
            Subscription.topics,
            Subscription.paused_until,
            Subscriber.timezone,
            Subscriber.locale,
        )
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .outerjoin(
            Delivery,
            (Delivery.digest_id == edition.digest_id)
            & (Delivery.subscriber_id == Subscription.subscriber_id),
        )
        .where(
            Subscription.list_id == list_id,
            Subscription.state == SubscriptionState.CONFIRMED,
            Subscription.cadence == Cadence.DAILY,
            Subscription.digests.is_(True),
            Subscription.confirmed_at >= edition.planned_at - PLANNING_MARGIN,
            Delivery.id.is_(None)
            | ((Delivery.state == DeliveryState.SKIPPED) & Delivery.skip_reason.in_(REOPENED)),
            _confirmed_by_reader(),  # type: ignore[arg-type]
        )
        .order_by(Subscription.subscriber_id)
    )
    return [
        Candidate(
            subscriber_id=subscriber_id,
            list_id=list_id,
            email=email,
            state=SubscriptionState.CONFIRMED,
            topics=tuple(topics or ()),
            paused_until=paused_until,
            suppressed=suppression_of(session, email) is not None,
            zone=zone,
            locale=locale,
        )
        for subscriber_id, email, topics, paused_until, zone, locale in session.execute(query)
    ]


def catch_up_edition(
    session: Session,
    edition: FreshEdition,
    *,
    now: datetime,
    batch_size: int = MAX_RECIPIENTS_PER_BATCH,
) -> tuple[int, list[int]]:
    """Queue the edition's late readers (the caller commits); (readers, new batch ids)."""
    list_id = session.scalar(
        select(MailingList.id)
        .join(Digest, Digest.publication_id == MailingList.publication_id)
        .where(Digest.id == edition.digest_id)
        .order_by(MailingList.id)
        .limit(1)
    )
    if list_id is None or not late_candidates(session, edition, list_id):
        return 0, []
    # Lock first, then read again: a concurrent pass waits here and finds nobody left.
    digest = ledger.lock_digest(session, edition.digest_id, now)
    if digest.state not in WENT_OUT:
        return 0, []
    topics = frozenset(topic.casefold() for topic in ledger.edition_topics(digest))
    planner = Planner(session, digest, Timing(), None, now)
    by_variant: dict[int | None, list[int]] = defaultdict(list)
    for candidate in late_candidates(session, edition, list_id):
        if skip_reason(candidate, topics, now) is not None:
            continue  # left as it is: planning's rules still leave them out
        variant = planner.variant(candidate.topics, planner.language(candidate.locale))
        by_variant[variant].append(candidate.subscriber_id)
    if not by_variant:
        return 0, []
    if digest.state is not DigestState.SENDING:
        transition(digest, DigestState.SENDING)
        session.flush()
    number = roster.last_batch_number(session, edition.digest_id)
    batch_ids: list[int] = []
    readers = 0
    for variant_id, subscriber_ids in by_variant.items():
        for start in range(0, len(subscriber_ids), batch_size):
            chunk = subscriber_ids[start : start + batch_size]
            number += 1
            batch_id = session.execute(
                insert(SendBatch).returning(SendBatch.id),
                {
                    "digest_id": edition.digest_id,
                    "number": number,
                    "size": len(chunk),
                    "variant_id": variant_id,
                    "deliver_by": edition.deliver_by,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
            _queue_late(session, edition.digest_id, list_id, batch_id, variant_id, chunk, now)
            batch_ids.append(batch_id)
            readers += len(chunk)
    return readers, batch_ids


def _queue_late(
    session: Session,
    digest_id: int,
    list_id: int,
    batch_id: int,
    variant_id: int | None,
    subscriber_ids: list[int],
    now: datetime,
) -> None:
    """Skipped rows move to queued; readers without a row get one; all marked late."""
    values = {
        "state": DeliveryState.QUEUED,
        "skip_reason": None,
        "batch_id": batch_id,
        "variant_id": variant_id,
        "late": True,
        "updated_at": now,
    }
    session.execute(
        update(Delivery)
        .where(
            Delivery.digest_id == digest_id,
            Delivery.subscriber_id.in_(subscriber_ids),
            Delivery.state.in_(sources(DeliveryState.QUEUED, among=[DeliveryState.SKIPPED])),
            Delivery.skip_reason.in_(REOPENED),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    present = set(
        session.scalars(
            select(Delivery.subscriber_id).where(
                Delivery.digest_id == digest_id, Delivery.subscriber_id.in_(subscriber_ids)
            )
        )
    )
    rows = [
        {"digest_id": digest_id, "subscriber_id": subscriber_id, "list_id": list_id, **values}
        for subscriber_id in subscriber_ids
        if subscriber_id not in present
    ]
    if rows:
        session.execute(insert(Delivery), rows)


def plan_late_readers(session: Session, *, now: datetime) -> CaughtUp:
    """Catch up every fresh daily edition's late readers (the caller commits)."""
    readers: dict[int, int] = {}
    batch_ids: list[int] = []
    for edition in fresh_editions(session, now):
        count, created = catch_up_edition(session, edition, now=now)
        if count:
            readers[edition.digest_id] = count
            batch_ids.extend(created)
    return CaughtUp(readers, batch_ids)
