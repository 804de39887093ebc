"""A sliding-window rate limiter whose counts live in a database table.

Sign-in throttling and sign-up limits both count rows of a table with a ``key`` and an
``at`` column: counting in the database (not in process memory) makes a limit hold
across web workers and restarts. Keys are hashed so the tables hold no names or
addresses, and rows older than the window are deleted as we go.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session


def hashed_key(kind: str, value: str) -> str:
    """``kind:<hash of value>``: what the attempt tables store instead of the value."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:40]}"


@dataclass(frozen=True)
class Usage:
    """How many attempts a key made within the window, and when the oldest and newest were."""

    count: int
    oldest: datetime | None
    newest: datetime | None = None

    def retry_after(self, window: timedelta, now: datetime) -> int:
        """Seconds until the oldest attempt leaves the window (at least 1)."""
        if self.oldest is None:
            return 1
        return max(1, int((self.oldest + window - now).total_seconds()) + 1)


@dataclass(frozen=True)
class Limiter:
    """Counts attempts per key over a sliding ``window``.

    ``key`` and ``at`` are the columns of one attempts table (a mapped class with a
    hashed key, the time of the attempt and nothing else that needs a value).
    """

    key: InstrumentedAttribute[str]
    at: InstrumentedAttribute[datetime]
    window: timedelta

    def purge(self, session: Session, now: datetime) -> None:
        """Delete attempts that have left the window."""
        session.execute(delete(self.key.class_).where(self.at < now - self.window))

    def usage(self, session: Session, key: str, now: datetime) -> Usage:
        """The attempts of ``key`` within the window ending ``now``."""
        count, oldest, newest = session.execute(
            select(func.count(), func.min(self.at), func.max(self.at)).where(
                self.key == key, self.at >= now - self.window
            )
        ).one()
        return Usage(int(count), oldest, newest)

    def record(self, session: Session, keys: list[str], now: datetime) -> None:
        """Count one attempt against each key."""
        session.execute(insert(self.key.class_), [{"key": key, "at": now} for key in keys])

    def forget(self, session: Session, key: str) -> None:
        """Forget every attempt of ``key`` (a success forgives earlier failures)."""
        session.execute(delete(self.key.class_).where(self.key == key))
