"""The shared database rate limiter: hashed keys, a sliding window, purging, forgetting."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from newsletter.db import Database, utcnow
from newsletter.ratelimit import Limiter, Usage, hashed_key
from subscribers.models import SignupAttempt

WINDOW = timedelta(minutes=10)


def _limiter() -> Limiter:
    return Limiter(SignupAttempt.key, SignupAttempt.at, WINDOW)


def test_keys_are_hashed_and_kinds_kept_apart() -> None:
    """A stored key names its kind and hides the value; equal values of two kinds differ."""
    key = hashed_key("ip", "192.0.2.7")
    assert key.startswith("ip:")
    assert "192.0.2.7" not in key
    assert len(key) == len("ip:") + 40
    assert key == hashed_key("ip", "192.0.2.7") != hashed_key("email", "192.0.2.7")


def test_usage_counts_only_the_window(database: Database) -> None:
    """Attempts inside the window count, with the oldest and newest; older ones do not."""
    now = utcnow()
    limiter = _limiter()
    with database.session() as session:
        limiter.record(session, ["ip:a"], now - timedelta(minutes=20))
        limiter.record(session, ["ip:a", "ip:b"], now - timedelta(minutes=5))
        limiter.record(session, ["ip:a"], now)
    with database.session() as session:
        usage = limiter.usage(session, "ip:a", now)
        assert usage == Usage(2, now - timedelta(minutes=5), now)
        assert limiter.usage(session, "ip:c", now) == Usage(0, None)


def test_purge_and_forget_delete_rows(database: Database) -> None:
    """Purging drops rows older than the window; forgetting drops every row of one key."""
    now = utcnow()
    limiter = _limiter()
    with database.session() as session:
        limiter.record(session, ["ip:a", "ip:b"], now - timedelta(minutes=20))
        limiter.record(session, ["ip:a", "ip:b"], now)
        limiter.purge(session, now)
        assert session.scalar(select(func.count()).select_from(SignupAttempt)) == 2
        limiter.forget(session, "ip:a")
        assert session.scalars(select(SignupAttempt.key)).all() == ["ip:b"]


def test_retry_after_is_when_the_oldest_attempt_leaves_the_window() -> None:
    """Retry-After counts from the oldest attempt, and is at least one second."""
    now = utcnow()
    assert Usage(3, now - timedelta(minutes=4)).retry_after(WINDOW, now) == 361
    assert Usage(3, now - timedelta(minutes=11)).retry_after(WINDOW, now) == 1
    assert Usage(0, None).retry_after(WINDOW, now) == 1
