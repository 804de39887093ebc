"""Planning's queries: who on a list is not yet in an edition's ledger, and bulk writes.

``bulk_groups`` counts the bulk readers (confirmed, not paused, not suppressed) per
distinct (zone, topics, locale) group, for the planner to give each its cell (instant,
and the variant of its topic selection in its language); ``plan_cells`` then queues
them all without a row passing through Python. ``candidates`` streams every other
unplanned subscription for ``planning.skip_reason`` to judge; the rest counts and
writes rows.
``ledger.plan_dispatch`` runs them in one transaction, in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Text,
    cast,
    column,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
    values,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from newsletter.content.edition import Cadence, MailKind, mail_kind
from newsletter.delivery.models import Delivery, DeliveryState, SendBatch
from newsletter.delivery.planning import Candidate, topics_match
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

    A daily edition is for the list's daily readers who get the digest, a weekly
    roundup for its weekly digest readers who chose the roundup's weekday, an alert
    for every reader who opted into alerts (whatever their digest cadence, even one
    who left the digest); nobody else is in its ledger at all.
    """

    list_id: int
    cadence: Cadence = Cadence.DAILY
    weekday: str | None = None  # a weekly roundup's day ("mon" ... "sun")
    default_zone: str = "UTC"

    @property
    def kind(self) -> MailKind:
        """The kind of mail the edition is, which decides who chose to get it."""
        return mail_kind(self.cadence)

    def zone(self) -> ColumnElement[str]:
        """A reader's zone as the database computes it: their own, or the default."""
        return func.coalesce(Subscriber.timezone, self.default_zone)

    def topics(self) -> InstrumentedAttribute[list[str]]:
        """The topics that select a reader: their alert topics for an alert, else their topics."""
        if self.kind is MailKind.ALERT:
            return Subscription.alert_topics
        return Subscription.topics

    def chose(self) -> list[ColumnElement[bool]]:
        """The conditions under which a subscription wants this kind and cadence of mail."""
        if self.kind is MailKind.ALERT:
            return [Subscription.alerts.is_(True)]
        chose = [Subscription.digests.is_(True), Subscription.cadence == self.cadence]
        if self.cadence is Cadence.WEEKLY:
            chose.append(Subscription.weekly_day == self.weekday)
        return chose


def _unplanned(
    session: Session, digest_id: int | None, audience: Audience, *columns: Any
) -> Select[Any]:
    """``columns`` of every subscription of the audience not yet in the edition's ledger.

    Subscribers already planned are left out by the database (an anti-join), so a
    second planner, or a resumed dispatch, reads only newcomers instead of the
    whole list. ``Suppression.id`` is set where the address is suppressed. Without
    a ``digest_id`` (an edition not made yet) the whole audience.
    """
    query = (
        select(*columns)
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        # The unique index on suppressions.email_hash serves this join.
        .outerjoin(Suppression, Suppression.email_hash == _address_hash(session))
        .where(Subscription.list_id == audience.list_id, *audience.chose())
    )
    if digest_id is None:
        return query
    # "No row matched" asked of a column the join condition compares (not the id):
    # PostgreSQL then knows it is an anti-join and hashes the ledger once, instead of
    # looking each reader up in it.
    return query.outerjoin(
        Delivery,
        (Delivery.digest_id == digest_id) & (Delivery.subscriber_id == Subscriber.id),
    ).where(Delivery.subscriber_id.is_(None))


# (zone, topics, locale) groups per statement: six parameters each, well under SQLite's limit.
PAIRS_PER_STATEMENT = 3000


def _bulk(
    session: Session, digest_id: int | None, audience: Audience, now: datetime, *columns: Any
) -> Select[Any]:
    """``columns`` of the unplanned readers whose only open question is their topics.

    Confirmed, not suppressed, not paused: ``skip_reason`` passes each of them unless
    their topics match nothing in the edition, which depends on their topics alone.
    So the planner decides once per distinct (zone, topics) pair and the database
    queues every such reader in bulk. Everyone else goes through ``skip_reason`` in
    Python, which alone knows every rule.
    """
    return _unplanned(session, digest_id, audience, *columns).where(
        Subscription.state == SubscriptionState.CONFIRMED,
        or_(Subscription.paused_until.is_(None), Subscription.paused_until <= now),
        Suppression.email_hash.is_(None),  # an anti-join, as above
    )


def _topics_text(audience: Audience) -> ColumnElement[str]:
    """A subscription's topics for the audience as stored (JSON text): equal choices, equal text."""
    return cast(audience.topics(), Text)


def bulk_groups(
    session: Session, digest_id: int, audience: Audience, now: datetime
) -> list[tuple[str, str, str, int]]:
    """(zone, topics as stored, locale, readers) for every group among the bulk readers.

    The locale as stored: which language it gets is the planner's (Python's) decision,
    made once per group, so the database never needs a twin of that rule.
    """
    zone, topics, locale = audience.zone(), _topics_text(audience), Subscriber.locale
    query = _bulk(session, digest_id, audience, now, zone, topics, locale, func.count()).group_by(
        zone, topics, locale
    )
    return [(str(z), str(t), str(loc), int(n)) for z, t, loc, n in session.execute(query)]


def reachable(
    session: Session, audience: Audience, edition_topics: Iterable[str], now: datetime
) -> int:
    """How many readers of the audience an edition on ``edition_topics`` would reach now.

    Counted before the edition exists (an editor about to send an alert sees it):
    confirmed, not paused, not suppressed, and their topics (for an alert, their
    alert topics) empty or sharing one with the edition, as ``skip_reason`` decides.
    """
    topics = _topics_text(audience)
    query = _bulk(session, None, audience, now, topics, func.count()).group_by(topics)
    wanted = frozenset(topic.casefold() for topic in edition_topics)
    reached = 0
    for stored, readers in session.execute(query):
        chosen = stored_topics(str(stored))
        if chosen is not None and topics_match(chosen, wanted):
            reached += int(readers)
    return reached


def stored_topics(stored: str) -> list[str] | None:
    """A subscription's topics from their stored JSON text (None if not a list of strings)."""
    try:
        topics = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        return None
    return topics


@dataclass
class Cell:
    """Bulk readers who get one email at one instant, and the (zone, topics, locale) groups
    they are.

    ``readers`` is as counted before the insert; readers who join meanwhile find no
    place and are left to the Python pass.
    """

    deliver_at: datetime | None
    not_before: datetime | None
    variant_id: int | None
    pairs: list[tuple[str, str, str]] = field(default_factory=list)
    readers: int = 0


def plan_cells(
    session: Session,
    digest_id: int,
    audience: Audience,
    cells: Sequence[Cell],
    *,
    now: datetime,
    after: int,
    batch_size: int,
) -> tuple[int, int]:
    """Queue the bulk readers of ``cells`` in batches from number ``after + 1``; (batches, queued).

    No reader passes through Python. Each cell's batches are created first, all with
    consecutive ids, from the counts; one ``INSERT ... SELECT`` then numbers each
    cell's readers from 0 (a window over the cell) and puts reader *n* of a cell in
    its batch ``first + n // size``: batches fill in order, one email and one
    instant each. A batch left short (a reader left between the count and the
    insert) gets its true size; an empty one is dropped.
    """
    cells = [cell for cell in cells if cell.readers]
    if not cells:
        return 0, 0
    rows: list[dict[str, Any]] = []
    for cell in cells:
        full, rest = divmod(cell.readers, batch_size)
        sizes = [batch_size] * full + ([rest] if rest else [])
        base = after + 1 + len(rows)
        rows.extend(
            {
                "digest_id": digest_id,
                "number": base + index,
                "size": size,
                "variant_id": cell.variant_id,
                "deliver_at": cell.deliver_at,
                "not_before": cell.not_before,
                "created_at": now,
                "updated_at": now,
            }
            for index, size in enumerate(sizes)
        )
    created = list(
        session.scalars(
            insert(SendBatch).returning(SendBatch.id, sort_by_parameter_order=True), rows
        )
    )
    if not _consecutive(created):
        # Another edition's planner took ids in between (rare): without consecutive ids
        # a row's batch cannot be computed, so the Python pass plans everyone instead.
        session.execute(
            delete(SendBatch)
            .where(SendBatch.id.in_(created))
            .execution_options(synchronize_session=False)
        )
        return 0, 0
    # One statement per slice of cells (never splitting one), to keep its parameters few.
    first = created[0]
    mapping: list[tuple[str, str, str, int, int, int | None]] = []
    for cell in cells:
        pairs = [
            (zone, topics, locale, first, cell.readers, cell.variant_id)
            for zone, topics, locale in cell.pairs
        ]
        if mapping and len(mapping) + len(pairs) > PAIRS_PER_STATEMENT:
            _insert_cells(session, digest_id, audience, mapping, now=now, size=batch_size)
            mapping = []
        mapping.extend(pairs)
        first += -(-cell.readers // batch_size)
    _insert_cells(session, digest_id, audience, mapping, now=now, size=batch_size)
    # Counted, not taken from the driver: SQLite reports no row count for a WITH statement.
    between = Delivery.batch_id.between(created[0], created[-1])
    queued = session.scalar(select(func.count()).where(between)) or 0
    dropped = 0
    if queued != sum(cell.readers for cell in cells):
        dropped = _true_sizes(session, created)
    return len(created) - dropped, queued


def _insert_cells(
    session: Session,
    digest_id: int,
    audience: Audience,
    mapping: list[tuple[str, str, str, int, int, int | None]],
    *,
    now: datetime,
    size: int,
) -> None:
    """The one statement that queues every bulk reader of these cells.

    ``mapping`` holds (zone, topics as stored, locale, first batch id, readers, variant)
    for each group, as a ``WITH cells(...) AS (VALUES ...)`` table the readers join.
    On PostgreSQL the readers are worked out first, on their own (``MATERIALIZED``):
    otherwise its planner, which cannot tell how many readers a (zone, language) pair
    of the VALUES table matches, may join those to every subscriber before looking at
    the topics (fifty rows per reader for fifty selections). SQLite, left to itself,
    looks each reader's cell up in an index it builds on the VALUES table.
    """
    table = (
        values(
            column("zone", String),
            column("topics", Text),
            column("locale", String),
            column("first", Integer),
            column("readers", Integer),
            column("variant", Integer),
            name="cells",
        )
        .data(mapping)
        .cte("cells")
    )
    bulk = (
        _bulk(
            session,
            digest_id,
            audience,
            now,
            Subscription.subscriber_id,
            audience.zone().label("zone"),
            _topics_text(audience).label("topics"),
            Subscriber.locale,
        )
        .cte("bulk")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    number = func.row_number().over(partition_by=table.c.first, order_by=bulk.c.subscriber_id)
    readers = (
        select(
            bulk.c.subscriber_id,
            table.c.first,
            table.c.readers,
            table.c.variant,
            (number - 1).label("n"),
        )
        .join_from(
            bulk,
            table,
            (bulk.c.zone == table.c.zone)
            & (bulk.c.topics == table.c.topics)
            & (bulk.c.locale == table.c.locale),
        )
        .subquery()
    )
    # Batch ids are consecutive within a cell: row n's batch is computed, not looked up
    # (integer division cast back to an integer, which SQL's FLOOR does not return).
    rows = select(
        literal(digest_id),
        readers.c.subscriber_id,
        literal(audience.list_id),
        readers.c.first + cast(readers.c.n // size, Integer),
        cast(readers.c.variant, Integer),  # all NULL: PostgreSQL would read text
        literal(DeliveryState.QUEUED, Delivery.state.type),
        literal(now, Delivery.updated_at.type),
    ).where(readers.c.n < readers.c.readers)  # past the count: left to the Python pass
    # Written batch by batch (the order the numbering sorted them in already, so no
    # second sort): a batch's rows then share a few pages, which its claim and its
    # record each rewrite. In subscriber order the rows of a thousand cells would
    # interleave, each batch spread over as many pages as it has readers.
    rows = rows.order_by(readers.c.first, readers.c.subscriber_id)
    columns = [
        "digest_id",
        "subscriber_id",
        "list_id",
        "batch_id",
        "variant_id",
        "state",
        "updated_at",
    ]
    if session.connection().dialect.name == "postgresql":
        # PostgreSQL cannot estimate how the readers match the VALUES table and may
        # compare every reader with every pair (a nested loop: minutes for a million
        # readers and a thousand pairs); a hash join does it in one pass.
        session.execute(text("SET LOCAL enable_nestloop = off"))
    session.execute(insert(Delivery).from_select(columns, rows))
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_nestloop = on"))


def _true_sizes(session: Session, batch_ids: list[int]) -> int:
    """Give these batches the number of readers they got; drop the empty ones (how many)."""
    counted = (
        select(func.count())
        .where(Delivery.batch_id == SendBatch.id)
        .correlate(SendBatch)
        .scalar_subquery()
    )
    session.execute(
        update(SendBatch)
        .where(SendBatch.id.in_(batch_ids))
        .values(size=counted)
        .execution_options(synchronize_session=False)
    )
    dropped = session.execute(
        delete(SendBatch)
        .where(SendBatch.id.in_(batch_ids), SendBatch.size == 0)
        .execution_options(synchronize_session=False)
    )
    return int(dropped.rowcount or 0)  # type: ignore[attr-defined]


def _consecutive(ids: list[int]) -> bool:
    """Whether ``ids`` count up by one (a sequence nobody else drew from meanwhile)."""
    return ids == list(range(ids[0], ids[0] + len(ids)))


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
        audience.topics(),
        Subscription.paused_until,
        Suppression.id.is_not(None),
        Subscriber.timezone,
        Subscriber.locale,
    )
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        order = (
            audience.zone(),
            _topics_text(audience),
            Subscriber.locale,
            Subscription.subscriber_id,
        )
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
    for subscriber_id, email, state, topics, paused_until, is_suppressed, zone, locale in rows:
        yield Candidate(
            subscriber_id=subscriber_id,
            list_id=list_id,
            email=email,
            state=state,
            topics=tuple(topics or ()),
            paused_until=paused_until,
            suppressed=bool(is_suppressed),
            zone=zone,
            locale=locale or "",
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
