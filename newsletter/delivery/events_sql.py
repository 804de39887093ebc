"""The applier's set statements: one statement per step of a set, whatever its size.

The values of a step go to the database as one JSON document, expanded there
(PostgreSQL: ``json_to_recordset`` / ``json_array_elements``; SQLite:
``json_each``): the driver sends one string, where arrays of values cost it a
Python call per element. The steps are the same on both: insert the events not
stored yet (``ON CONFLICT DO NOTHING``: a replayed event inserts nothing), each
with the delivery it names, and read those deliveries' states (on PostgreSQL in
the same statement, which answers with one row of arrays); then one UPDATE of
the state moves, only where the state is still the one read, saying which moved;
then one UPDATE of the counters. No executemany and no row per event through
Python: per-row work stays in the database's C code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, cast

import orjson
from sqlalchemy import Connection, Table

from newsletter.delivery.models import Delivery, DeliveryEvent
from newsletter.delivery.webhook import EventColumns, stored_form

# Every delivery is found through its unique index, a lookup per value (LATERAL with
# LIMIT 1, which the planner does not flatten; id = ANY): left to itself the planner
# hashes the whole deliveries table for each set.
# ``m`` is read once (MATERIALIZED): the deliveries as this statement found them.
_PG_INSERT = (
    "WITH m AS MATERIALIZED ("
    " SELECT e.n, e.i, e.k, e.r, d.id, d.state"
    " FROM json_to_recordset(%s::json) AS e(n int, i text, k text, g int, s int, r json)"
    " LEFT JOIN LATERAL (SELECT id, state FROM deliveries"
    " WHERE digest_id = e.g AND subscriber_id = e.s LIMIT 1) AS d ON true),"
    " ins AS ("
    " INSERT INTO delivery_events (sg_event_id, kind, delivery_id, raw, received_at)"
    " SELECT i, k, id, r, %s::timestamptz FROM m ORDER BY n"
    " ON CONFLICT (sg_event_id) DO NOTHING RETURNING sg_event_id)"
    " SELECT array_agg(m.n ORDER BY m.n), array_agg(m.id ORDER BY m.n),"
    " array_agg(m.state::text ORDER BY m.n)"
    " FROM m JOIN ins ON ins.sg_event_id = m.i"
)
_PG_MOVE = (
    "WITH moved AS (UPDATE deliveries AS d SET state = v.state,"
    " last_error = coalesce(v.error, d.last_error), updated_at = %s::timestamptz"
    " FROM (SELECT (value->>0)::int AS id, value->>1 AS seen, value->>2 AS state,"
    " value->>3 AS error FROM json_array_elements(%s::json)) AS v"
    " WHERE d.id = ANY(%s::int[]) AND d.id = v.id AND d.state = v.seen RETURNING d.id)"
    " SELECT array_agg(id) FROM moved"
)
_PG_COUNT = (
    "UPDATE deliveries AS d SET opens = d.opens + v.opens, clicks = d.clicks + v.clicks,"
    " first_opened_at = coalesce(d.first_opened_at, v.opened),"
    " first_clicked_at = coalesce(d.first_clicked_at, v.clicked),"
    " complained_at = coalesce(d.complained_at, v.complained)"
    " FROM (SELECT (value->>0)::int AS id, (value->>1)::int AS opens,"
    " (value->>2)::int AS clicks, (value->>3)::timestamptz AS opened,"
    " (value->>4)::timestamptz AS clicked, (value->>5)::timestamptz AS complained"
    " FROM json_array_elements(%s::json)) AS v"
    " WHERE d.id = ANY(%s::int[]) AND d.id = v.id"
)

# SQLite: ``WHERE true`` keeps ``ON CONFLICT`` from being read as part of the join.
_SQLITE_INSERT = (
    "INSERT INTO delivery_events (sg_event_id, kind, delivery_id, raw, received_at) "
    "SELECT json_extract(j.value, '$.i'), json_extract(j.value, '$.k'), d.id, "
    "json_extract(j.value, '$.r'), ? "
    "FROM json_each(?) AS j LEFT JOIN deliveries AS d "
    "ON d.digest_id = json_extract(j.value, '$.g') "
    "AND d.subscriber_id = json_extract(j.value, '$.s') "
    "WHERE true ORDER BY j.key "
    "ON CONFLICT (sg_event_id) DO NOTHING RETURNING sg_event_id, delivery_id"
)
_SQLITE_STATES = "SELECT id, state FROM deliveries WHERE id IN (SELECT value FROM json_each(?))"
_SQLITE_MOVE = (
    "UPDATE deliveries SET state = v.state, "
    "last_error = coalesce(v.error, deliveries.last_error), "
    "updated_at = ? "
    "FROM (SELECT json_extract(j.value, '$[0]') AS id, "
    "json_extract(j.value, '$[1]') AS seen, "
    "json_extract(j.value, '$[2]') AS state, "
    "json_extract(j.value, '$[3]') AS error FROM json_each(?) AS j) AS v "
    "WHERE deliveries.id = v.id AND deliveries.state = v.seen RETURNING deliveries.id"
)
_SQLITE_COUNT = (
    "UPDATE deliveries SET opens = deliveries.opens + v.opens, "
    "clicks = deliveries.clicks + v.clicks, "
    "first_opened_at = coalesce(deliveries.first_opened_at, v.opened), "
    "first_clicked_at = coalesce(deliveries.first_clicked_at, v.clicked), "
    "complained_at = coalesce(deliveries.complained_at, v.complained) "
    "FROM (SELECT json_extract(j.value, '$[0]') AS id, "
    "json_extract(j.value, '$[1]') AS opens, "
    "json_extract(j.value, '$[2]') AS clicks, "
    "json_extract(j.value, '$[3]') AS opened, "
    "json_extract(j.value, '$[4]') AS clicked, "
    "json_extract(j.value, '$[5]') AS complained FROM json_each(?) AS j) AS v "
    "WHERE deliveries.id = v.id"
)

_TIMESTAMP = cast(Table, Delivery.__table__).c.updated_at.type
_RECEIVED = cast(Table, DeliveryEvent.__table__).c.received_at.type


class Fresh(NamedTuple):
    """The events a set inserted (the others were stored before), in arrival order."""

    events: list[int]  # their indexes in the set
    deliveries: list[int | None]  # the delivery each names (None: not ours)
    states: list[str | None]  # that delivery's state as read


class Moves(NamedTuple):
    """Folded states to write, each only if its delivery is still in ``seen``."""

    ids: list[int]
    seen: list[str]
    states: list[str]
    errors: list[str | None]


class Counts(NamedTuple):
    """Engagement to add per delivery; the first times are kept only where none is."""

    ids: list[int]
    opens: list[int]
    clicks: list[int]
    opened: list[datetime | None]
    clicked: list[datetime | None]
    complained: list[datetime | None]


def _postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def _stamp(connection: Connection, value: datetime | None, kind: Any = _TIMESTAMP) -> Any:
    """A timestamp as the dialect stores it (SQLite: UTC text, as the ORM writes it)."""
    # The dialect's own processor (the type's generic one would leave SQLite a datetime).
    processor = kind._cached_bind_processor(connection.dialect)
    return processor(value) if processor is not None else value


def _json(rows: Any) -> str:
    return orjson.dumps(rows).decode()


def _ids(ids: list[int]) -> str:
    """Integers as a PostgreSQL array literal (a string: one value for the driver)."""
    return "{" + ",".join(map(str, ids)) + "}"


def insert_events(connection: Connection, columns: EventColumns, now: datetime) -> Fresh:
    """Insert the events not stored yet, each with the delivery it names, and read its state."""
    rows = zip(
        columns.ids, columns.names, columns.digests, columns.subscribers, columns.items, strict=True
    )
    document = _json(
        [
            {"n": n, "i": i, "k": k[:32], "g": g, "s": s, "r": stored_form(item)}
            for n, (i, k, g, s, item) in enumerate(rows)
        ]
    )
    if _postgres(connection):
        row = connection.exec_driver_sql(_PG_INSERT, (document, now)).one()
        return Fresh(list(row[0] or ()), list(row[1] or ()), list(row[2] or ()))
    stored = connection.exec_driver_sql(
        _SQLITE_INSERT, (_stamp(connection, now, _RECEIVED), document)
    ).all()
    matched = {row[1] for row in stored if row[1] is not None}
    states: dict[int, str] = {}
    if matched:
        found = connection.exec_driver_sql(_SQLITE_STATES, (_json(list(matched)),))
        states = {row[0]: row[1] for row in found}
    positions = columns.positions
    events = sorted(positions[row[0]] for row in stored)
    delivery = {row[0]: row[1] for row in stored}
    ids = columns.ids
    deliveries = [delivery[ids[i]] for i in events]
    return Fresh(events, deliveries, [None if d is None else states.get(d) for d in deliveries])


def write_moves(connection: Connection, moves: Moves, now: datetime) -> set[int]:
    """Write each state whose delivery is still as read; the ids written."""
    if not moves.ids:
        return set()
    values = _json(list(zip(*moves, strict=True)))
    if _postgres(connection):
        written = connection.exec_driver_sql(_PG_MOVE, (now, values, _ids(moves.ids))).scalar()
        return set(written or ())
    rows = connection.exec_driver_sql(_SQLITE_MOVE, (_stamp(connection, now), values))
    return {row[0] for row in rows}


def write_counts(connection: Connection, counts: Counts) -> None:
    """Add opens and clicks and keep the first open, click and complaint times."""
    if not counts.ids:
        return
    if _postgres(connection):
        values = _json(list(zip(*counts, strict=True)))
        connection.exec_driver_sql(_PG_COUNT, (values, _ids(counts.ids)))
        return
    times = [[_stamp(connection, t) for t in column] for column in counts[3:]]
    values = _json(list(zip(*counts[:3], *times, strict=True)))
    connection.exec_driver_sql(_SQLITE_COUNT, (values,))
