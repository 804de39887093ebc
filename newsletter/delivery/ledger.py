"""The dispatch ledger: plan an edition's deliveries once, claim a batch before sending, record.

Every function takes a ``Session``; the caller commits. The order that makes
"exactly once" hold is: ``claim_batch`` and COMMIT, then call the provider, then
one ``record_*`` and COMMIT. A claim is a conditional UPDATE (``WHERE state =
'planned'``), so of two workers racing for one batch exactly one sees a changed
row; the loser moves on. Recording is conditional on the claim token, so a worker
whose lease ran out cannot overwrite what happened after it.

Planning streams the list's subscriptions page by page (keyset pagination on the
subscriber id) and inserts deliveries in chunks, so memory stays flat whether the
list holds a hundred or a million subscribers.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from newsletter.briefings.content import BriefingContent
from newsletter.db import utcnow
from newsletter.delivery.interfaces import MAX_RECIPIENTS_PER_BATCH
from newsletter.delivery.models import (
    BatchState,
    Delivery,
    DeliveryState,
    SendBatch,
    SkipReason,
    sources,
)
from newsletter.delivery.planning import Candidate, Selection, iter_batches, select_recipients
from newsletter.digests.models import Digest, DigestState, transition
from newsletter.digests.services import get_digest
from newsletter.errors import NotFoundError, TransitionError
from subscribers.addresses import email_hash
from subscribers.models import Subscriber, Subscription, SubscriptionState, Suppression
from subscribers.services import ensure_default_list

PAGE = 5000
INSERT_ROWS = 1000  # skipped rows buffered before one bulk insert
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


def _address_hash(session: Session) -> ColumnElement[str]:
    """``email_hash(subscribers.email)`` computed by the database, to join suppressions on.

    Suppressions are keyed by the hash (an erased one keeps nothing else), so the
    join must be too. PostgreSQL computes SHA-256 itself; SQLite gets the very
    function the rest of the code hashes with, registered on its connection.
    """
    if session.connection().dialect.name == "postgresql":
        utf8 = func.convert_to(Subscriber.email, "UTF8")
        return func.encode(func.sha256(utf8), "hex")
    raw: Any = session.connection().connection.dbapi_connection
    raw.create_function("email_hash", 1, email_hash, deterministic=True)
    return func.email_hash(Subscriber.email, type_=String)


def _unplanned(session: Session, digest_id: int, list_id: int, *columns: Any) -> Select[Any]:
    """``columns`` of every subscription of the list not yet in the edition's ledger.

    Subscribers already planned are left out by the database (an anti-join), so a
    second planner, or a resumed dispatch, reads only newcomers instead of the
    whole list. ``Suppression.id`` is set where the address is suppressed.
    """
    return (
        select(*columns)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        # The unique index on suppressions.email_hash serves this join.
        .outerjoin(Suppression, Suppression.email_hash == _address_hash(session))
        .outerjoin(
            Delivery,
            (Delivery.digest_id == digest_id) & (Delivery.subscriber_id == Subscriber.id),
        )
        .where(Subscription.list_id == list_id, Delivery.id.is_(None))
    )


def _plain(session: Session, digest_id: int, list_id: int, now: datetime) -> Select[Any]:
    """Unplanned subscribers who get the edition whatever its topics, numbered from 0.

    Confirmed, not suppressed, not paused, and with no topic filter: ``skip_reason``
    would pass every one of them, so the database can queue them in bulk. Everyone
    else goes through ``skip_reason`` in Python, which alone knows every rule.
    """
    number = func.row_number().over(order_by=Subscription.subscriber_id) - 1
    return _unplanned(
        session, digest_id, list_id, Subscription.subscriber_id, number.label("n")
    ).where(
        Subscription.state == SubscriptionState.CONFIRMED,
        func.json_array_length(Subscription.topics) == 0,
        or_(Subscription.paused_until.is_(None), Subscription.paused_until <= now),
        Suppression.id.is_(None),
    )


def _plan_plain(
    session: Session,
    digest_id: int,
    list_id: int,
    *,
    now: datetime,
    after: int,
    batch_size: int,
) -> tuple[int, int]:
    """Queue the plain subscribers in batches numbered from ``after + 1``; (batches, queued).

    No row passes through Python. Enough batches for every confirmed subscription
    (a cheap count on an index) are created first, with consecutive ids; one
    ``INSERT ... SELECT`` then puts plain subscriber *n* in the batch numbered
    ``after + 1 + n // size``, so batches fill in order; the last one used gets its
    true size and the unused ones are dropped.
    A subscription confirmed between the count and the insert may find no batch:
    it stays unplanned here, and the Python pass that follows judges it.
    """
    confirmed = _confirmed(session, list_id)
    if not confirmed:
        return 0, 0
    batches = -(-confirmed // batch_size)
    created = list(
        session.scalars(
            insert(SendBatch).returning(SendBatch.id, sort_by_parameter_order=True),
            [
                {
                    "digest_id": digest_id,
                    "number": after + 1 + index,
                    "size": batch_size,
                    "created_at": now,
                    "updated_at": now,
                }
                for index in range(batches)
            ],
        )
    )
    first = created[0]
    if not _consecutive(created):
        # Another edition's planner took ids in between (rare): without consecutive ids
        # a row's batch cannot be computed, so the Python pass plans everyone instead.
        session.execute(
            delete(SendBatch)
            .where(SendBatch.id.in_(created))
            .execution_options(synchronize_session=False)
        )
        return 0, 0
    plain = _plain(session, digest_id, list_id, now).subquery()
    # Batch ids are consecutive, in number order: row n's batch is computed, not looked
    # up (integer division cast back to an integer, which SQL's FLOOR does not return).
    rows = select(
        literal(digest_id),
        plain.c.subscriber_id,
        literal(list_id),
        first + cast(plain.c.n // batch_size, Integer),
        literal(DeliveryState.QUEUED, Delivery.state.type),
        literal(now, Delivery.updated_at.type),
    ).where(plain.c.n < batches * batch_size)  # past the last batch: left to the Python pass
    columns = ["digest_id", "subscriber_id", "list_id", "batch_id", "state", "updated_at"]
    statement = insert(Delivery).from_select(columns, rows)
    # SQLAlchemy reports an INSERT's row count only when asked to keep it.
    result = session.execute(statement.execution_options(preserve_rowcount=True))
    queued: int = result.rowcount  # type: ignore[attr-defined]
    full, rest = divmod(queued, batch_size)
    used = full + (1 if rest else 0)
    ours = SendBatch.digest_id == digest_id
    if rest:
        last = ours & (SendBatch.number == after + used)
        session.execute(
            update(SendBatch)
            .where(last)
            .values(size=rest)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        delete(SendBatch)
        .where(ours, SendBatch.number > after + used)
        .execution_options(synchronize_session=False)
    )
    return used, queued


def _consecutive(ids: list[int]) -> bool:
    """Whether ``ids`` count up by one (a sequence nobody else drew from meanwhile)."""
    return ids == list(range(ids[0], ids[0] + len(ids)))


def _confirmed(session: Session, list_id: int) -> int:
    """How many subscriptions of the list are confirmed (an upper bound on the plain ones)."""
    query = select(func.count()).where(
        Subscription.list_id == list_id, Subscription.state == SubscriptionState.CONFIRMED
    )
    return session.scalar(query) or 0


def _last_batch_number(session: Session, digest_id: int) -> int:
    """The highest batch number the digest has so far (0 before its first)."""
    query = select(func.max(SendBatch.number)).where(SendBatch.digest_id == digest_id)
    return session.scalar(query) or 0


def _candidates(session: Session, digest_id: int, list_id: int, page: int) -> Iterator[Candidate]:
    """Every unplanned subscription of the list, streamed in pages, so memory stays flat.

    Rows come through Core, not the ORM: they are plain tuples. PostgreSQL streams
    one query through a server-side cursor: its snapshot is taken once, so
    deliveries inserted meanwhile do not change what it reads, and the cost stays
    linear however large the list. SQLite reads keyset pages (each fully fetched
    before the next insert), since it must not read a table the same connection is
    writing to mid-statement.
    """
    query = _unplanned(
        session,
        digest_id,
        list_id,
        Subscription.subscriber_id,
        Subscriber.email,
        Subscription.state,
        Subscription.topics,
        Subscription.paused_until,
        Suppression.id.is_not(None),
    ).order_by(Subscription.subscriber_id)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        result = connection.execute(query.execution_options(yield_per=page))
        for rows in result.partitions():
            yield from _rows_to_candidates(rows, list_id)
        return
    last = 0
    while True:
        rows = connection.execute(query.where(Subscription.subscriber_id > last).limit(page)).all()
        yield from _rows_to_candidates(rows, list_id)
        if len(rows) < page:
            return
        last = rows[-1][0]


def _already_planned(session: Session, digest_id: int, list_id: int) -> int:
    """How many subscriptions of the list an earlier planning pass put in the ledger."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Subscription)
            .join(
                Delivery,
                (Delivery.digest_id == digest_id)
                & (Delivery.subscriber_id == Subscription.subscriber_id),
            )
            .where(Subscription.list_id == list_id)
        )
        or 0
    )


def _rows_to_candidates(rows: Sequence[Any], list_id: int) -> Iterator[Candidate]:
    for subscriber_id, email, state, topics, paused_until, is_suppressed in rows:
        yield Candidate(
            subscriber_id=subscriber_id,
            list_id=list_id,
            email=email,
            state=state,
            topics=tuple(topics or ()),
            paused_until=paused_until,
            suppressed=bool(is_suppressed),
        )


def _lock_digest(session: Session, digest_id: int, now: datetime) -> Digest:
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


def plan_dispatch(
    session: Session,
    digest_id: int,
    *,
    now: datetime | None = None,
    batch_size: int = MAX_RECIPIENTS_PER_BATCH,
    page: int = PAGE,
) -> PlanResult:
    """Put every subscriber of the edition's list in the ledger once: queued in a batch, or skipped.

    Running it again adds only subscribers not yet in the ledger (counted as
    ``already_sent`` otherwise), so it is safe to repeat after a crash or a retry.
    """
    if not 1 <= batch_size <= MAX_RECIPIENTS_PER_BATCH:
        raise ValueError(
            f"batch_size must be between 1 and {MAX_RECIPIENTS_PER_BATCH}, got {batch_size}"
        )
    now = now or utcnow()
    digest = _lock_digest(session, digest_id, now)
    if digest.state is DigestState.SENT:
        # A concurrent dispatch finished it between our caller's look and our lock.
        return PlanResult(digest_id, batches=0, queued=0)
    if digest.state not in SENDABLE:
        raise TransitionError(f"{digest.label()} is {digest.state.value}: it cannot be sent")
    if digest.state is not DigestState.SENDING:
        transition(digest, DigestState.SENDING)
        session.flush()
    mailing_list = ensure_default_list(session, digest.publication)
    topics = edition_topics(digest)
    counts: Counter[str] = Counter()
    skipped: list[dict[str, Any]] = []

    def flush_skipped() -> None:
        if skipped:
            _insert_deliveries(session, skipped)
            skipped.clear()

    def sendable(selections: Iterator[Selection]) -> Iterator[Selection]:
        for selection in selections:
            if selection.skip is None:
                yield selection
                continue
            counts[selection.skip.value] += 1
            skipped.append(
                {
                    "digest_id": digest_id,
                    "subscriber_id": selection.subscriber_id,
                    "list_id": selection.list_id,
                    "state": DeliveryState.SKIPPED,
                    "skip_reason": selection.skip,
                    "updated_at": now,
                }
            )
            if len(skipped) >= INSERT_ROWS:
                flush_skipped()

    already = _already_planned(session, digest_id, mailing_list.id)
    if already:
        counts[SkipReason.ALREADY_SENT.value] = already
    # Most of a list is plain: the database queues those in bulk; Python judges the rest.
    batches, queued = _plan_plain(
        session,
        digest_id,
        mailing_list.id,
        now=now,
        after=_last_batch_number(session, digest_id),
        batch_size=batch_size,
    )
    number = _last_batch_number(session, digest_id)
    selections = select_recipients(
        _candidates(session, digest_id, mailing_list.id, page), topics, now
    )
    for chunk in iter_batches(sendable(selections), batch_size):
        number += 1
        batch_id = session.execute(
            insert(SendBatch).returning(SendBatch.id),
            {"digest_id": digest_id, "number": number, "size": len(chunk), "created_at": now},
        ).scalar_one()
        _insert_deliveries(
            session,
            [
                {
                    "digest_id": digest_id,
                    "subscriber_id": selection.subscriber_id,
                    "list_id": selection.list_id,
                    "batch_id": batch_id,
                    "state": DeliveryState.QUEUED,
                    "updated_at": now,
                }
                for selection in chunk
            ],
        )
        batches += 1
        queued += len(chunk)
    flush_skipped()
    return PlanResult(digest_id, batches=batches, queued=queued, skipped=dict(counts))


_COPY_COLUMNS = (
    "digest_id",
    "subscriber_id",
    "list_id",
    "batch_id",
    "state",
    "skip_reason",
    "updated_at",
    "opens",
    "clicks",
)
_COPY = f"COPY deliveries ({', '.join(_COPY_COLUMNS)}) FROM STDIN"


def _insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk-insert delivery rows: COPY on PostgreSQL, executemany on SQLite.

    A million recipients make a million rows; COPY is an order of magnitude faster
    than any INSERT form on PostgreSQL, and SQLite's executemany is already cheap.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(Delivery), rows)
        return
    raw: Any = connection.connection.dbapi_connection
    with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
        for row in rows:
            reason = row.get("skip_reason")
            copy.write_row(
                (
                    row["digest_id"],
                    row["subscriber_id"],
                    row["list_id"],
                    row.get("batch_id"),
                    row["state"].value,
                    reason.value if reason is not None else None,
                    row["updated_at"],
                    0,
                    0,
                )
            )


def refresh_statistics(session: Session) -> None:
    """Let PostgreSQL's planner see the rows a large plan just loaded (no-op on SQLite)."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text("ANALYZE deliveries, send_batches"))


# -- claiming ---------------------------------------------------------------------------


def next_due_batch(session: Session, digest_id: int, now: datetime) -> int | None:
    """The id of the lowest-numbered batch waiting to be sent and due by ``now``."""
    return session.scalar(
        select(SendBatch.id)
        .where(
            SendBatch.digest_id == digest_id,
            SendBatch.state == BatchState.PLANNED,
            or_(SendBatch.not_before.is_(None), SendBatch.not_before <= now),
        )
        .order_by(SendBatch.number)
        .limit(1)
    )


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
            lease_until=now + lease,
            attempts=SendBatch.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch_id, Delivery.state.in_(sources(DeliveryState.CLAIMED)))
        .values(state=DeliveryState.CLAIMED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    row = session.execute(
        select(SendBatch.digest_id, SendBatch.number, SendBatch.attempts, SendBatch.resends).where(
            SendBatch.id == batch_id
        )
    ).one()
    return Claim(batch_id, row[0], row[1], row[2], row[3], token)


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
