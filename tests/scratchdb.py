"""Scratch PostgreSQL databases for tests, benchmarks and stress runs.

Apart from ``tests.services`` on purpose: the benchmarks import this, and a process
being measured must not carry pytest (its import alone made the webhook's p99 in
``python -m bench events`` go from about 50 to 130-150 ms on PostgreSQL).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from newsletter.db import normalise_url


@contextmanager
def fresh_postgres(server_url: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """A new, empty PostgreSQL database ``<prefix><random>`` on ``server_url``; yields its URL.

    With ``template`` (the name of a database nobody is connected to) the new one is
    a copy of it. The database is dropped afterwards, whatever is still connected to
    it. Tests, the benchmarks and the stress runs all make their scratch databases here.
    """
    admin_url = make_url(normalise_url(server_url))
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            drop_database(admin, name)
    finally:
        admin.dispose()


def drop_database(admin: Engine, name: str, attempts: int = 5) -> None:
    """Drop database ``name``, disconnecting whoever is still on it first.

    A pool elsewhere may reconnect between the two statements; the drop is then
    tried again, a few times, before the error is let through.
    """
    for attempt in range(attempts):
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            try:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                return
            except OperationalError:
                if attempt == attempts - 1:
                    raise
        time.sleep(0.5)
