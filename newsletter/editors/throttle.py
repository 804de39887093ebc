"""Sign-in with throttling: failed attempts counted per account and per client IP.

Counts live in the database so the limits hold across web workers and restarts.
An account under attack is locked for everyone (including its owner) until the
window passes; that is the price of not letting anyone guess passwords. Keys are
hashed so the table holds no names or addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from newsletter import metrics
from newsletter.db import utcnow
from newsletter.editors.models import Editor, LoginAttempt
from newsletter.editors.services import find_editor, verify_password
from newsletter.errors import RateLimited, UserError
from newsletter.ratelimit import Limiter, hashed_key


class LoginFailed(UserError):
    """The name or password is wrong, or the account is disabled (one message for all)."""


@dataclass(frozen=True)
class LoginLimits:
    """How many failed sign-ins an account and an IP may have per window."""

    per_account: int = 5
    per_ip: int = 20
    window: timedelta = timedelta(minutes=15)


def _key(kind: str, value: str) -> str:
    return hashed_key(kind, value.strip().lower())


def _limiter(limits: LoginLimits) -> Limiter:
    return Limiter(LoginAttempt.key, LoginAttempt.at, limits.window)


def _keys(name: str, ip: str | None, limits: LoginLimits) -> list[tuple[str, int]]:
    keys = [(_key("account", name), limits.per_account)]
    if ip:
        keys.append((_key("ip", ip), limits.per_ip))
    return keys


def check_throttle(
    session: Session, name: str, ip: str | None, limits: LoginLimits, now: datetime
) -> None:
    """Raise ``RateLimited`` when the account or the IP has used up its failures."""
    limiter = _limiter(limits)
    limiter.purge(session, now)
    for key, limit in _keys(name, ip, limits):
        usage = limiter.usage(session, key, now)
        if usage.count >= limit:
            wait = usage.retry_after(limits.window, now)
            minutes = max(1, (wait + 59) // 60)
            metrics.THROTTLE_REFUSALS.labels("signin").inc()
            raise RateLimited(
                f"Too many failed sign-ins. Try again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}.",
                retry_after=wait,
            )


def record_failure(
    session: Session, name: str, ip: str | None, limits: LoginLimits, now: datetime
) -> None:
    """Count one failed sign-in against the account and the IP."""
    _limiter(limits).record(session, [key for key, _limit in _keys(name, ip, limits)], now)


def sign_in(
    session: Session,
    name: str,
    password: str,
    *,
    ip: str | None,
    limits: LoginLimits | None = None,
    now: datetime | None = None,
) -> Editor:
    """The editor ``name`` (or email) if the password is right; throttled and counted.

    A wrong name, a wrong password and a disabled account give the same ``LoginFailed``,
    so the form does not reveal which accounts exist. The caller must commit even when
    this raises, so the failure is counted.
    """
    limits = limits or LoginLimits()
    now = now or utcnow()
    editor = find_editor(session, name) if name.strip() else None
    # Name and email of one account share one count.
    account = editor.name if editor is not None else name
    check_throttle(session, account, ip, limits, now)
    good = verify_password(editor, password)
    if editor is None or not good or editor.disabled:
        record_failure(session, account, ip, limits, now)
        raise LoginFailed("The name or password is not right, or the account is disabled.")
    # A successful sign-in forgives the account's earlier typos (not the IP's).
    _limiter(limits).forget(session, _key("account", account))
    return editor
