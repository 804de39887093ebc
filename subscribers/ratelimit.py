"""Sign-up rate limits, per client IP and per address, kept in the database.

The counting is ``newsletter.ratelimit``'s (shared with sign-in throttling), over the
``signup_attempts`` table; a sign-up already costs a few writes, so one more insert and
an indexed count are cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from newsletter import metrics
from newsletter.db import utcnow
from newsletter.errors import RateLimited
from newsletter.ratelimit import Limiter, hashed_key
from subscribers.models import SignupAttempt


@dataclass(frozen=True)
class SignupLimits:
    """How many sign-ups one IP and one address may make per window."""

    per_ip: int = 20
    per_address: int = 5
    window: timedelta = timedelta(hours=1)


def attempt_key(kind: str, value: str) -> str:
    """The stored key of an IP or address: a hash, so the table holds no personal data."""
    return hashed_key(kind, value)


def check_signup(
    session: Session,
    *,
    ip: str | None,
    email: str,
    limits: SignupLimits,
    now: datetime | None = None,
) -> None:
    """Count this sign-up, or raise ``RateLimited`` if the IP or the address is over its limit."""
    now = now or utcnow()
    limiter = Limiter(SignupAttempt.key, SignupAttempt.at, limits.window)
    limiter.purge(session, now)
    checks = [(attempt_key("email", email), limits.per_address, "this address")]
    if ip:
        checks.append((attempt_key("ip", ip), limits.per_ip, "your network"))
    for key, limit, who in checks:
        if limiter.usage(session, key, now).count >= limit:
            minutes = max(1, int(limits.window.total_seconds() // 60))
            metrics.THROTTLE_REFUSALS.labels("signup").inc()
            raise RateLimited(
                f"Too many sign-ups from {who}; please try again in {minutes} minutes.",
                retry_after=int(limits.window.total_seconds()),
            )
    limiter.record(session, [key for key, _, _ in checks], now)
