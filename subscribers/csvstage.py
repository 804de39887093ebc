"""PostgreSQL: an import's chunk checked and written set-based, from a temporary table.

Each chunk's rows (after the file's own checks) go into a temporary table with one
``COPY``; then one join finds the rows the database has something to say about
(suppressed addresses, subscribers that exist, members of this list), which ``csvio``
decides on exactly as on SQLite; the rows it refuses or confirms are taken out of the
table, and two statements write the rest: the new subscribers, then the subscriptions
with their consent records, returning each subscription's id with its row number.
No per-row look-up or id travels back and forth, and nothing is built per row in
Python but the ``COPY`` line.

The table lives in the import's transaction (``ON COMMIT DROP``); a ``--dry-run``
creates it inside the savepoint it rolls back. Timestamps are ``CURRENT_TIMESTAMP``,
the transaction's, as the other statements of the import use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy.orm import Session

from subscribers.addresses import email_hash
from subscribers.csvread import CsvRow
from subscribers.csvwrite import Known
from subscribers.models import ConsentSource, SubscriptionState, SuppressionReason

_CREATE = """
CREATE TEMPORARY TABLE IF NOT EXISTS subscriber_import_rows (
    number integer NOT NULL,
    email varchar(320) NOT NULL,
    email_hash varchar(64) NOT NULL,
    name varchar(200) NOT NULL,
    locale varchar(16) NOT NULL,
    timezone varchar(64),
    topics json NOT NULL,
    cadence varchar(32) NOT NULL,
    weekly_day varchar(3),
    digests boolean NOT NULL,
    alerts boolean NOT NULL,
    alert_topics json NOT NULL
) ON COMMIT DROP
"""
_COPY = "COPY subscriber_import_rows FROM STDIN"
# Every look-up below is a LATERAL subquery with LIMIT 1 (each key is unique), which
# the planner cannot turn into a join: one index probe per row of the chunk. As joins,
# the planner, whose statistics do not know of the rows this transaction has written,
# hashed the whole subscribers table for each chunk (quadratic in the file's size).
# Only the rows the database knows something about: usually none.
_LOOKUP = """
SELECT t.email, p.reason, s.id, m.id, m.state
FROM subscriber_import_rows t
LEFT JOIN LATERAL (
    SELECT reason FROM suppressions WHERE email_hash = t.email_hash LIMIT 1
) p ON true
LEFT JOIN LATERAL (SELECT id FROM subscribers WHERE email = t.email LIMIT 1) s ON true
LEFT JOIN LATERAL (
    SELECT id, state FROM subscriptions
    WHERE subscriber_id = s.id AND list_id = %(list)s LIMIT 1
) m ON true
WHERE p.reason IS NOT NULL OR s.id IS NOT NULL
"""
_DROP = "DELETE FROM subscriber_import_rows WHERE email = ANY(%(dropped)s)"
_EMPTY = "TRUNCATE subscriber_import_rows"
_NEW_SUBSCRIBERS = """
INSERT INTO subscribers (email, name, locale, timezone, created_at, updated_at)
SELECT t.email, t.name, t.locale, t.timezone, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
FROM subscriber_import_rows t
LEFT JOIN LATERAL (SELECT id FROM subscribers WHERE email = t.email LIMIT 1) s ON true
WHERE s.id IS NULL
ORDER BY t.number
"""
# The subscriptions and their consent records; each subscription's id and row number.
_SUBSCRIBE = """
WITH written AS (
    INSERT INTO subscriptions (
        subscriber_id, list_id, state, topics, cadence, weekly_day, digests, alerts,
        alert_topics, created_at, updated_at, {stamps}
    )
    SELECT s.id, %(list)s, %(state)s, t.topics, t.cadence, t.weekly_day, t.digests,
        t.alerts, t.alert_topics, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, {times}
    FROM subscriber_import_rows t
    JOIN LATERAL (SELECT id FROM subscribers WHERE email = t.email LIMIT 1) s ON true
    ORDER BY t.number
    RETURNING id, subscriber_id
), recorded AS (
    INSERT INTO consents (subscriber_id, list_id, to_state, source, text, at)
    SELECT w.subscriber_id, %(list)s, %(state)s, %(source)s, %(consent)s, CURRENT_TIMESTAMP
    FROM written w ORDER BY w.id
)
SELECT w.id, t.number
FROM written w
JOIN LATERAL (SELECT email FROM subscribers WHERE id = w.subscriber_id LIMIT 1) s ON true
JOIN subscriber_import_rows t ON t.email = s.email
ORDER BY w.id
"""


class Stage:
    """The temporary table of one import, on the session's connection."""

    def __init__(self, session: Session) -> None:
        raw = session.connection().connection.driver_connection
        assert raw is not None  # an open connection has its driver's
        self._raw = raw
        self._json: dict[tuple[str, ...], str] = {}
        with raw.cursor() as cursor:
            cursor.execute(_CREATE)

    def _dumps(self, topics: Iterable[str]) -> str:
        """Topics as JSON text; a file repeats a few lists of topics, so each is kept."""
        key = tuple(topics)
        text = self._json.get(key)
        if text is None:
            text = self._json.setdefault(key, json.dumps(list(key)))
        return text

    def fill(self, rows: Iterable[CsvRow], list_id: int) -> Known:
        """Put one chunk's rows (one per address) in the table; what the database has on them."""
        dumps = self._dumps
        with self._raw.cursor() as cursor:
            cursor.execute(_EMPTY)
            with cursor.copy(_COPY) as copy:
                for row in rows:
                    copy.write_row(
                        (
                            row.number,
                            row.email,
                            email_hash(row.email),
                            row.name,
                            row.locale,
                            row.timezone,
                            dumps(row.topics),
                            row.reading.cadence.value,
                            row.reading.weekly_day,
                            row.digests,
                            row.alerts,
                            dumps(row.alert_topics),
                        )
                    )
            cursor.execute(_LOOKUP, {"list": list_id})
            found = cursor.fetchall()
        known = Known()
        for email, reason, subscriber_id, subscription_id, state in found:
            if reason is not None:
                known.suppressed[email] = SuppressionReason(reason)
            if subscriber_id is not None:
                known.subscribers[email] = subscriber_id
            if subscription_id is not None:
                known.members[subscriber_id] = (subscription_id, SubscriptionState(state))
        return known

    def write(
        self,
        dropped: list[str],
        list_id: int,
        state: SubscriptionState,
        consent: str,
    ) -> tuple[int, list[tuple[int, int]]]:
        """Subscribe the table's rows but those of the ``dropped`` addresses (refused or
        confirmed instead), which are taken out.

        Returns how many subscribers were new, and each new subscription's id with its
        row number, by id.
        """
        from psycopg import sql  # here: an import on SQLite need not load psycopg (~10 MB)

        confirmed = state is SubscriptionState.CONFIRMED
        stamps = ("confirmed_at",) if confirmed else ("pending_since", "confirmation_sent_at")
        statement = sql.SQL(_SUBSCRIBE).format(
            stamps=sql.SQL(", ").join(map(sql.Identifier, stamps)),
            times=sql.SQL(", ").join([sql.SQL("CURRENT_TIMESTAMP")] * len(stamps)),
        )
        values = {
            "list": list_id,
            "state": state.value,
            "source": ConsentSource.IMPORT.value,
            "consent": consent,
        }
        with self._raw.cursor() as cursor:
            if dropped:
                cursor.execute(_DROP, {"dropped": dropped})
            cursor.execute(_NEW_SUBSCRIBERS)
            new = cursor.rowcount
            cursor.execute(statement, values)
            return new, [(int(sid), int(number)) for sid, number in cursor.fetchall()]
