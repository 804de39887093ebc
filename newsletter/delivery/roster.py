"""Planning's queries: who on a list is not yet in an edition's ledger, and bulk writes.

``plan_plain`` queues the plain subscribers (confirmed, no topic filter, not paused,
not suppressed) without a row passing through Python; ``candidates`` streams every
other unplanned subscription for ``planning.skip_reason`` to judge; the rest counts
and writes rows. ``ledger.plan_dispatch`` runs them in one transaction, in order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Text,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from newsletter.content.edition import Cadence
from newsletter.delivery.models import Delivery, DeliveryState, SendBatch
from newsletter.delivery.planning import Candidate
from subscribers.addresses import email_hash
from subscribers.models import Subscriber, Subscription, SubscriptionState, Suppression


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


@dataclass(frozen=True)
class Audience:
    """Whose edition this is: the list, the cadence, and the zone readers without one get.

    A daily edition is for the list's daily readers, a weekly roundup for its weekly
    readers who chose the roundup's weekday; nobody else is in its ledger at all.
    """

    list_id: int
    cadence: Cadence = Cadence.DAILY
    weekday: str | None = None  # a weekly roundup's day ("mon" ... "sun")
    default_zone: str = "UTC"

    def zone(self) -> ColumnElement[str]:
        """A reader's zone as the database computes it: their own, or the default."""
        return func.coalesce(Subscriber.timezone, self.default_zone)


def _unplanned(session: Session, digest_id: int, audience: Audience, *columns: Any) -> Select[Any]:
    """``columns`` of every subscription of the audience not yet in the edition's ledger.

    Subscribers already planned are left out by the database (an anti-join), so a
    second planner, or a resumed dispatch, reads only newcomers instead of the
    whole list. ``Suppression.id`` is set where the address is suppressed.
    """
    query = (
        select(*columns)
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        # The unique index on suppressions.email_hash serves this join.
        .outerjoin(Suppression, Suppression.email_hash == _address_hash(session))
        .outerjoin(
            Delivery,
            (Delivery.digest_id == digest_id) & (Delivery.subscriber_id == Subscriber.id),
        )
        .where(
            Subscription.list_id == audience.list_id,
            Subscription.cadence == audience.cadence,
            Delivery.id.is_(None),
        )
    )
    if audience.cadence is Cadence.WEEKLY:
        query = query.where(Subscription.weekly_day == audience.weekday)
    return query


def _plain_rows(
    session: Session, digest_id: int, audience: Audience, now: datetime, *columns: Any
) -> Select[Any]:
    """``columns`` of the unplanned subscribers who get the edition whatever its topics.

    Confirmed, not suppressed, not paused, and with no topic filter: ``skip_reason``
    would pass every one of them, so the database can queue them in bulk. Everyone
    else goes through ``skip_reason`` in Python, which alone knows every rule.
    """
    return _unplanned(session, digest_id, audience, *columns).where(
        Subscription.state == SubscriptionState.CONFIRMED,
        func.json_array_length(Subscription.topics) == 0,
        or_(Subscription.paused_until.is_(None), Subscription.paused_until <= now),
        Suppression.id.is_(None),
    )


def _plain(
    session: Session,
    digest_id: int,
    audience: Audience,
    now: datetime,
    zones: Sequence[str] | None,
) -> Select[Any]:
    """The plain subscribers (of ``zones`` only, if given), numbered from 0."""
    number = func.row_number().over(order_by=Subscription.subscriber_id) - 1
    query = _plain_rows(
        session, digest_id, audience, now, Subscription.subscriber_id, number.label("n")
    )
    if zones is not None:
        query = query.where(audience.zone().in_(zones))
    return query


def plain_zones(
    session: Session, digest_id: int, audience: Audience, now: datetime
) -> dict[str, int]:
    """How many plain subscribers wait in each zone (a reader without one: the default)."""
    zone = audience.zone()
    rows = session.execute(
        _plain_rows(session, digest_id, audience, now, zone, func.count()).group_by(zone)
    ).all()
    return {str(name): int(count) for name, count in rows}


@dataclass(frozen=True)
class Slot:
    """What every batch of one zone group shares: its delivery instant and when to claim it."""

    deliver_at: datetime | None = None
    not_before: datetime | None = None
    zones: Sequence[str] | None = None  # None: every zone (the edition has one instant)
    bound: int | None = None  # at most this many readers (None: count the confirmed)


def plan_plain(
    session: Session,
    digest_id: int,
    audience: Audience,
    *,
    now: datetime,
    after: int,
    batch_size: int,
    slot: Slot | None = None,
) -> tuple[int, int]:
    """Queue the plain subscribers in batches numbered from ``after + 1``; (batches, queued).

    No row passes through Python. Enough batches for every confirmed subscription
    (a cheap count on an index; or ``slot.bound``) are created first, with consecutive ids; one
    ``INSERT ... SELECT`` then puts plain subscriber *n* in the batch numbered
    ``after + 1 + n // size``, so batches fill in order; the last one used gets its
    true size and the unused ones are dropped.
    A subscription confirmed between the count and the insert may find no batch:
    it stays unplanned here, and the Python pass that follows judges it.
    """
    slot = slot or Slot()
    confirmed = _confirmed(session, audience.list_id) if slot.bound is None else slot.bound
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
                    "deliver_at": slot.deliver_at,
                    "not_before": slot.not_before,
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
    plain = _plain(session, digest_id, audience, now, slot.zones).subquery()
    # Batch ids are consecutive, in number order: row n's batch is computed, not looked
    # up (integer division cast back to an integer, which SQL's FLOOR does not return).
    rows = select(
        literal(digest_id),
        plain.c.subscriber_id,
        literal(audience.list_id),
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


def last_batch_number(session: Session, digest_id: int) -> int:
    """The highest batch number the digest has so far (0 before its first)."""
    query = select(func.max(SendBatch.number)).where(SendBatch.digest_id == digest_id)
    return session.scalar(query) or 0


def candidates(
    session: Session, digest_id: int, audience: Audience, page: int
) -> Iterator[Candidate]:
    """Every unplanned subscription of the audience, streamed in pages, so memory stays flat.

    Rows come through Core, not the ORM: they are plain tuples. PostgreSQL streams
    one query through a server-side cursor: its snapshot is taken once, so
    deliveries inserted meanwhile do not change what it reads, and the cost stays
    linear however large the list. It sorts by zone and topics, so readers who get
    the same email at the same instant come together and the planner fills one batch
    at a time. SQLite reads keyset pages (each fully fetched before the next insert),
    since it must not read a table the same connection is writing to mid-statement.
    """
    list_id = audience.list_id
    query = _unplanned(
        session,
        digest_id,
        audience,
        Subscription.subscriber_id,
        Subscriber.email,
        Subscription.state,
        Subscription.topics,
        Subscription.paused_until,
        Suppression.id.is_not(None),
        Subscriber.timezone,
    )
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        order = (audience.zone(), cast(Subscription.topics, Text), Subscription.subscriber_id)
        result = connection.execute(query.order_by(*order).execution_options(yield_per=page))
        for rows in result.partitions():
            yield from _rows_to_candidates(rows, list_id)
        return
    query = query.order_by(Subscription.subscriber_id)
    last = 0
    while True:
        rows = connection.execute(query.where(Subscription.subscriber_id > last).limit(page)).all()
        yield from _rows_to_candidates(rows, list_id)
        if len(rows) < page:
            return
        last = rows[-1][0]


def already_planned(session: Session, digest_id: int, list_id: int) -> int:
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
    for subscriber_id, email, state, topics, paused_until, is_suppressed, zone in rows:
        yield Candidate(
            subscriber_id=subscriber_id,
            list_id=list_id,
            email=email,
            state=state,
            topics=tuple(topics or ()),
            paused_until=paused_until,
            suppressed=bool(is_suppressed),
            zone=zone,
        )


_COPY_COLUMNS = (
    "digest_id",
    "subscriber_id",
    "list_id",
    "batch_id",
    "variant_id",
    "state",
    "skip_reason",
    "updated_at",
    "opens",
    "clicks",
)
_COPY = f"COPY deliveries ({', '.join(_COPY_COLUMNS)}) FROM STDIN"


def insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
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
                    row.get("variant_id"),
                    row["state"].value,
                    reason.value if reason is not None else None,
                    row["updated_at"],
                    0,
                    0,
                )
            )
