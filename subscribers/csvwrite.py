"""Writing an import's rows: the bulk statements ``csvio`` runs per chunk.

On SQLite the rows go in with the driver's ``executemany`` of plain tuples and
timestamps from the database clock (``CURRENT_TIMESTAMP``) in the statement. On
PostgreSQL they go in with ``COPY`` (the transaction's timestamp read once, as text),
and look-ups by many values use ``= ANY`` of one array parameter, so the statement
text is the same for every chunk. Both write the same rows; the ids are read back by
address or subscriber.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from newsletter.db import Base
from subscribers.csvread import CsvRow
from subscribers.models import (
    Consent,
    ConsentSource,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionState,
)

CHUNK = 2000
# Core tables: bulk inserts skip the ORM's per-object bookkeeping.
_SUBSCRIBERS = Base.metadata.tables[Subscriber.__tablename__]
_SUBSCRIPTIONS = Base.metadata.tables[Subscription.__tablename__]
_CONSENTS = Base.metadata.tables[Consent.__tablename__]
# Timestamps of bulk rows come from the database clock, rendered once into the statement:
# binding a Python datetime converts it again for every row, the largest cost of an import.
NOW = func.current_timestamp()
_ARRAYS = {"email": ARRAY(String), "email_hash": ARRAY(String)}


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def confirm_pending(
    session: Session, subscription_ids: list[int], list_id: int, consent: str
) -> None:
    """Confirm pending sign-ups of this list, with the import's consent on record."""
    if not subscription_ids:
        return
    connection = session.connection()
    for chunk in chunks(subscription_ids):
        connection.execute(
            update(_SUBSCRIPTIONS)
            .where(
                _SUBSCRIPTIONS.c.id.in_(chunk),
                _SUBSCRIPTIONS.c.state == SubscriptionState.PENDING,
            )
            .values(state=SubscriptionState.CONFIRMED, confirmed_at=NOW, updated_at=NOW)
        )
        members = session.scalars(
            select(Subscription.subscriber_id).where(Subscription.id.in_(chunk))
        ).all()
        consents = [
            {
                "subscriber_id": member,
                "list_id": list_id,
                "from_state": SubscriptionState.PENDING.value,
                "to_state": SubscriptionState.CONFIRMED.value,
                "source": ConsentSource.IMPORT,
                "text": consent,
            }
            for member in members
        ]
        connection.execute(insert(_CONSENTS).values(at=NOW), consents)


def on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def among(
    session: Session, column: InstrumentedAttribute[Any], values: list[Any]
) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``= ANY`` of one array parameter.

    One array keeps the statement's text the same for every chunk: an ``IN`` of a
    parameter per value is compiled and parsed again for each chunk's count.
    """
    if not on_postgresql(session):
        return column.in_(values)
    kind = _ARRAYS.get(column.key, ARRAY(Integer))
    return column == any_(bindparam(None, values, type_=kind))


def _write(
    session: Session,
    table: Table,
    columns: Sequence[str],
    stamps: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    now: str | None,
) -> None:
    """Write ``rows`` (plain tuples in ``columns`` order) into ``table``; ``stamps`` get
    the database clock's time.

    PostgreSQL (``now``: the transaction's timestamp as text): ``COPY``. SQLite: the
    driver's ``executemany`` with ``CURRENT_TIMESTAMP`` in the statement, tuples passed
    as they are (SQLAlchemy's per-row parameter handling was most of an import's cost).
    """
    if now is not None:
        from psycopg import sql  # here: an import on SQLite need not load psycopg (~10 MB)

        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name),
            sql.SQL(", ").join(map(sql.Identifier, (*columns, *stamps))),
        )
        times = (now,) * len(stamps)
        raw = session.connection().connection.driver_connection
        assert raw is not None  # an open connection has its driver's
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row + times)
        return
    quote = session.get_bind().dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in (*columns, *stamps))
    marks = ", ".join(["?"] * len(columns) + ["CURRENT_TIMESTAMP"] * len(stamps))
    # Only the metadata's own names go into the text (quoted); every value is a parameter.
    insert_text = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"  # noqa: S608
    session.connection().exec_driver_sql(insert_text, list(rows))


def existing_subscribers(session: Session, emails: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunks(emails, 5000):
        query = select(Subscriber.email, Subscriber.id).where(
            among(session, Subscriber.email, list(chunk))
        )
        found.update((email, number) for email, number in session.connection().execute(query))
    return found


def insert_subscribers(session: Session, rows: list[CsvRow], now: str | None) -> dict[str, int]:
    # Plain executemany (COPY on PostgreSQL), then read the ids back: RETURNING with a
    # guaranteed order makes SQLite insert one row per statement, several times slower.
    if not rows:
        return {}
    _write(
        session,
        _SUBSCRIBERS,
        ("email", "name", "locale", "timezone"),
        ("created_at", "updated_at"),
        ((row.email, row.name, row.locale, row.timezone) for row in rows),
        now,
    )
    return existing_subscribers(session, [row.email for row in rows])


def insert_subscriptions(
    session: Session,
    rows: list[CsvRow],
    subscriber_ids: dict[str, int],
    mailing_list: MailingList,
    state: SubscriptionState,
    consent: str,
    now: str | None = None,
) -> list[tuple[int, int]]:
    """Subscribe ``rows`` (one chunk); each new subscription's id with its row number."""
    if not rows:
        return []
    connection = session.connection()
    members = {subscriber_ids[row.email]: row.number for row in rows}
    _write_subscriptions(session, rows, subscriber_ids, mailing_list.id, state, consent, now)
    written = connection.execute(
        select(Subscription.id, Subscription.subscriber_id).where(
            Subscription.list_id == mailing_list.id,
            among(session, Subscription.subscriber_id, list(members)),
        )
    )
    return sorted((subscription_id, members[member]) for subscription_id, member in written)


def _write_subscriptions(
    session: Session,
    rows: list[CsvRow],
    subscriber_ids: dict[str, int],
    list_id: int,
    state: SubscriptionState,
    consent: str,
    now: str | None,
) -> None:
    """The subscriptions and their consent records of one chunk."""
    confirmed = state is SubscriptionState.CONFIRMED
    stamps = ("confirmed_at",) if confirmed else ("pending_since", "confirmation_sent_at")
    columns = (
        "subscriber_id",
        "list_id",
        "state",
        "topics",
        "cadence",
        "weekly_day",
        "digests",
        "alerts",
        "alert_topics",
    )
    dumps = json.dumps
    _write(
        session,
        _SUBSCRIPTIONS,
        columns,
        ("created_at", "updated_at", *stamps),
        (
            (
                subscriber_ids[row.email],
                list_id,
                state.value,
                dumps(row.topics),
                row.reading.cadence.value,
                row.reading.weekly_day,
                row.digests,
                row.alerts,
                dumps(list(row.alert_topics)),
            )
            for row in rows
        ),
        now,
    )
    record = (list_id, state.value, ConsentSource.IMPORT.value, consent)
    _write(
        session,
        _CONSENTS,
        ("subscriber_id", "list_id", "to_state", "source", "text"),
        ("at",),
        ((subscriber_ids[row.email], *record) for row in rows),
        now,
    )
