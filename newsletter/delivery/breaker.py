"""A circuit breaker per provider, kept in the database so every worker process shares it.

While the provider is unreachable, hammering it helps nobody: each refused request
costs a claim, a write and a broker message. The breaker is one row of
``provider_breakers`` (``models.ProviderBreaker``), named after the provider::

    closed ──threshold consecutive transient failures──▶ open (nothing is sent)
      ▲                                                    │ probe_at passed
      │                                                    ▼
      └──────────────any success───────────────────── half-open: one claim at a time
                                                           │ (probe_until: its lease)
                                       the probe failed ───┘ open again, interval doubled

Every change is one conditional UPDATE, so concurrent workers agree without a lock
held across the provider call: ``admit`` lets exactly one caller through once
``probe_at`` has passed (the UPDATE that sets ``probe_until`` succeeds for one of
them); ``record_failure`` counts and opens; ``record_success`` closes and costs an
UPDATE matching no row while the breaker is closed and nothing failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.delivery.models import ProviderBreaker

EMAIL = "email"  # the one provider of a deployment (its email backend)
_ERROR_LIMIT = 500


@dataclass(frozen=True)
class BreakerPolicy:
    """When the breaker opens and how often it probes while open."""

    threshold: int = 5
    probe_interval: timedelta = timedelta(seconds=5)
    max_probe_interval: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError(f"breaker threshold must be at least 1, got {self.threshold}")
        if self.probe_interval < timedelta(0) or self.max_probe_interval < self.probe_interval:
            raise ValueError(
                "breaker probe_interval must be >= 0 and <= max_probe_interval, got "
                f"{self.probe_interval} and {self.max_probe_interval}"
            )


class Gate(StrEnum):
    """What the breaker allows now."""

    CLOSED = "closed"  # send freely
    PROBE = "probe"  # open, its probe time has passed and no probe is in flight
    OPEN = "open"  # wait


@dataclass(frozen=True)
class Admission:
    """The answer to ``admit``: go (as a probe or freely), or wait until ``wait_until``."""

    allowed: bool
    probe: bool = False
    wait_until: datetime | None = None


def _row(session: Session, name: str) -> ProviderBreaker | None:
    return session.scalar(
        select(ProviderBreaker)
        .where(ProviderBreaker.name == name)
        .execution_options(populate_existing=True)
    )


def _ensure(session: Session, name: str, now: datetime) -> None:
    """Create the provider's row if it does not exist (another worker may race to it)."""
    if session.scalar(select(ProviderBreaker.name).where(ProviderBreaker.name == name)):
        return
    try:
        with session.begin_nested():
            session.add(ProviderBreaker(name=name, failures=0, interval_s=0.0, updated_at=now))
    except IntegrityError:
        pass  # another worker created it first


def gate(session: Session, name: str, now: datetime) -> Gate:
    """Whether sending is allowed now (a read: the tick uses it to choose what to enqueue)."""
    row = session.execute(
        select(ProviderBreaker.probe_at, ProviderBreaker.probe_until).where(
            ProviderBreaker.name == name
        )
    ).first()
    if row is None or row.probe_at is None:
        return Gate.CLOSED
    if row.probe_at > now or (row.probe_until is not None and row.probe_until > now):
        return Gate.OPEN
    return Gate.PROBE


def admit(session: Session, name: str, now: datetime, *, lease: timedelta) -> Admission:
    """Let a worker claim a batch: always while closed, one probe at a time while open."""
    row = session.execute(
        select(ProviderBreaker.probe_at, ProviderBreaker.probe_until).where(
            ProviderBreaker.name == name
        )
    ).first()
    if row is None or row.probe_at is None:
        return Admission(allowed=True)
    if row.probe_at > now:
        return Admission(allowed=False, wait_until=row.probe_at)
    taken = session.execute(
        update(ProviderBreaker)
        .where(
            ProviderBreaker.name == name,
            ProviderBreaker.probe_at <= now,
            or_(ProviderBreaker.probe_until.is_(None), ProviderBreaker.probe_until <= now),
        )
        .values(probe_until=now + lease, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        return Admission(allowed=True, probe=True)
    busy_until = row.probe_until if row.probe_until and row.probe_until > now else now + lease
    return Admission(allowed=False, wait_until=busy_until)


def release_probe(session: Session, name: str, now: datetime) -> None:
    """Give the probe slot back unused (the batch was taken by another worker meanwhile)."""
    session.execute(
        update(ProviderBreaker)
        .where(ProviderBreaker.name == name)
        .values(probe_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def record_failure(
    session: Session,
    name: str,
    now: datetime,
    error: str,
    *,
    policy: BreakerPolicy,
    retry_after: float | None = None,
) -> datetime | None:
    """Count a transient failure; returns the next probe time if the breaker is (now) open.

    Opening sets the probe time one interval ahead (or the provider's rate-limit reset,
    if later); a failure while open (the probe's) opens it again for twice as long.
    """
    _ensure(session, name, now)
    session.execute(
        update(ProviderBreaker)
        .where(ProviderBreaker.name == name)
        .values(
            failures=ProviderBreaker.failures + 1,
            last_error=error[:_ERROR_LIMIT],
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    row = _row(session, name)  # the UPDATE holds the row lock (PostgreSQL) until commit
    assert row is not None
    if row.probe_at is None and row.failures < policy.threshold:
        return None
    base = policy.probe_interval.total_seconds()
    if row.probe_at is None:
        interval = base
        row.opened_at = now
    else:
        interval = min(max(row.interval_s * 2, base), policy.max_probe_interval.total_seconds())
    wait = max(interval, retry_after or 0.0)
    probe_at = now + timedelta(seconds=wait)
    if row.probe_at is not None and row.probe_at > probe_at:
        probe_at = row.probe_at  # another worker's failure already set a later probe
    row.interval_s = interval
    row.probe_at = probe_at
    row.probe_until = None
    session.flush()
    return probe_at


def record_success(session: Session, name: str, now: datetime) -> bool:
    """The provider took a request: close the breaker; whether it was open (or counting)."""
    closed = session.execute(
        update(ProviderBreaker)
        .where(
            ProviderBreaker.name == name,
            or_(ProviderBreaker.failures > 0, ProviderBreaker.probe_at.is_not(None)),
        )
        .values(
            failures=0,
            opened_at=None,
            probe_at=None,
            probe_until=None,
            interval_s=0.0,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(closed.rowcount == 1)  # type: ignore[attr-defined]


def is_open(session: Session, name: str) -> bool:
    """Whether the breaker is open or half-open (a probe time is set)."""
    return (
        session.scalar(
            select(ProviderBreaker.name).where(
                and_(ProviderBreaker.name == name, ProviderBreaker.probe_at.is_not(None))
            )
        )
        is not None
    )
