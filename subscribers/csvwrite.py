"""Writing an import's rows: the bulk statements ``csvio`` runs per chunk on SQLite.

On SQLite each chunk is looked up with a few ``IN`` queries (``look_up``) and written
with the driver's ``executemany`` of plain tuples, timestamps from the database clock
(``CURRENT_TIMESTAMP``) in the statement; the ids are read back by address or
subscriber. PostgreSQL checks and writes each chunk set-based from a temporary table
(``csvstage``); both answer the look-up as ``Known`` and share ``confirm_pending``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from newsletter.db import Base
from subscribers.addresses import email_hash
from subscribers.csvread import CsvRow
from subscribers.models import (
    Consent,
    ConsentSource,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionState,
    Suppression,
    SuppressionReason,
)

CHUNK = 2000
# Core tables: bulk inserts skip the ORM's per-object bookkeeping.
_SUBSCRIBERS = Base.metadata.tables[Subscriber.__tablename__]
_SUBSCRIPTIONS = Base.metadata.tables[Subscription.__tablename__]
_CONSENTS = Base.metadata.tables[Consent.__tablename__]
# Timestamps of bulk rows come from the database clock, rendered once into the statement:
# binding a Python datetime converts it again for every row, the largest cost of an import.
NOW = func.current_timestamp()


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


def _write(
    session: Session,
    table: Table,
    columns: Sequence[str],
    stamps: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
) -> None:
    """Write ``rows`` (plain tuples in ``columns`` order) into ``table``; ``stamps`` get
    the database clock's time.

    The driver's ``executemany`` with ``CURRENT_TIMESTAMP`` in the statement, tuples
    passed as they are (SQLAlchemy's per-row parameter handling was most of an
    import's cost).
    """
    quote = session.get_bind().dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in (*columns, *stamps))
    marks = ", ".join(["?"] * len(columns) + ["CURRENT_TIMESTAMP"] * len(stamps))
    # Only the metadata's own names go into the text (quoted); every value is a parameter.
    insert_text = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"  # noqa: S608
    session.connection().exec_driver_sql(insert_text, list(rows))


@dataclass
class Known:
    """What the database has on a chunk's addresses (only those it has anything on)."""

    suppressed: dict[str, SuppressionReason] = field(default_factory=dict)
    subscribers: dict[str, int] = field(default_factory=dict)  # address: subscriber id
    # subscriber id: (subscription id, state) on this list
    members: dict[int, tuple[int, SubscriptionState]] = field(default_factory=dict)


def look_up(session: Session, emails: list[str], list_id: int) -> Known:
    """What the database has on ``emails``: suppressions, subscribers, this list's members."""
    hashes = {email_hash(email): email for email in emails}
    connection = session.connection()
    known = Known()
    known.suppressed = {
        hashes[digest]: reason
        for digest, reason in connection.execute(
            select(Suppression.email_hash, Suppression.reason).where(
                Suppression.email_hash.in_(list(hashes))
            )
        )
    }
    known.subscribers = existing_subscribers(session, emails)
    known.members = {
        subscriber_id: (subscription_id, state)
        for subscriber_id, subscription_id, state in connection.execute(
            select(Subscription.subscriber_id, Subscription.id, Subscription.state).where(
                Subscription.list_id == list_id,
                Subscription.subscriber_id.in_(list(known.subscribers.values())),
            )
        )
    }
    return known


def existing_subscribers(session: Session, emails: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunks(emails, 5000):
        query = select(Subscriber.email, Subscriber.id).where(Subscriber.email.in_(chunk))
        found.update((email, number) for email, number in session.connection().execute(query))
    return found


def insert_subscribers(session: Session, rows: list[CsvRow]) -> dict[str, int]:
    # Plain executemany, then read the ids back: RETURNING with a
    # guaranteed order makes SQLite insert one row per statement, several times slower.
    if not rows:
        return {}
    _write(
        session,
        _SUBSCRIBERS,
        ("email", "name", "locale", "timezone"),
        ("created_at", "updated_at"),
        ((row.email, row.name, row.locale, row.timezone) for row in rows),
    )
    return existing_subscribers(session, [row.email for row in rows])


def insert_subscriptions(
    session: Session,
    rows: list[CsvRow],
    subscriber_ids: dict[str, int],
    mailing_list: MailingList,
    state: SubscriptionState,
    consent: str,
) -> list[tuple[int, int]]:
    """Subscribe ``rows`` (one chunk); each new subscription's id with its row number."""
    if not rows:
        return []
    connection = session.connection()
    members = {subscriber_ids[row.email]: row.number for row in rows}
    _write_subscriptions(session, rows, subscriber_ids, mailing_list.id, state, consent)
    written = connection.execute(
        select(Subscription.id, Subscription.subscriber_id).where(
            Subscription.list_id == mailing_list.id,
            Subscription.subscriber_id.in_(list(members)),
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
    )
    record = (list_id, state.value, ConsentSource.IMPORT.value, consent)
    _write(
        session,
        _CONSENTS,
        ("subscriber_id", "list_id", "to_state", "source", "text"),
        ("at",),
        ((subscriber_ids[row.email], *record) for row in rows),
    )
