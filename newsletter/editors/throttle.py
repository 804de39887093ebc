"""Sign-in with throttling that guards passwords without locking anyone out.

Failures are counted per (account, client address) pair and per client address, in the
database so the limits hold across web workers and restarts; keys are hashed so the
table holds no names or addresses.

* **One account from one address**: the first ``free_per_address`` failures cost
  nothing; each one after that makes the pair wait, twice as long each time
  (``first_delay``, doubled, at most ``max_delay``). Someone guessing Ann's password
  from one address slows to a few tries an hour; Ann, signing in from her own
  address, is not slowed at all, so five wrong passwords from anywhere no longer lock
  an editor (or an admin) out.
* **One address, any accounts**: ``per_ip`` failures within ``window`` stop that
  address (someone trying many names), again not the accounts.

A refusal says how long to wait in the same figure ``Retry-After`` carries (rounded up
to whole minutes past a minute), and the sign-in form records it in the audit trail
(``login.throttled``).
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
    """Free failures per (account, address), the growing delay after them, and the
    failures one address may have over ``window`` (how long failures are remembered)."""

    free_per_address: int = 3
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=15)
    per_ip: int = 20
    window: timedelta = timedelta(hours=1)


def _pair_key(account: str, ip: str | None) -> str:
    return hashed_key("pair", f"{account.strip().lower()}\n{ip or ''}")


def _ip_key(ip: str) -> str:
    return hashed_key("ip", ip.strip().lower())


def _limiter(limits: LoginLimits) -> Limiter:
    return Limiter(LoginAttempt.key, LoginAttempt.at, limits.window)


def delay_after(failures: int, limits: LoginLimits) -> timedelta:
    """How long a pair waits after ``failures`` failures: none at first, then doubling."""
    extra = failures - limits.free_per_address
    if extra < 0:
        return timedelta(0)
    delay: timedelta = limits.first_delay * 2 ** min(extra, 30)
    return min(delay, limits.max_delay)


def _refusal(wait: timedelta) -> RateLimited:
    """One figure for the message and ``Retry-After``: seconds, or whole minutes past one."""
    seconds = max(1, int(-(-wait.total_seconds() // 1)))
    if seconds < 60:
        shown, retry_after = f"{seconds} second{'s' if seconds != 1 else ''}", seconds
    else:
        minutes = -(-seconds // 60)
        shown, retry_after = f"{minutes} minute{'s' if minutes != 1 else ''}", minutes * 60
    metrics.THROTTLE_REFUSALS.labels("signin").inc()  # made only to be raised
    return RateLimited(
        f"Too many failed sign-ins from this address. Try again in {shown}.",
        retry_after=retry_after,
    )


def check_throttle(
    session: Session, name: str, ip: str | None, limits: LoginLimits, now: datetime
) -> None:
    """Raise ``RateLimited`` while the pair waits out its delay or the address is spent."""
    limiter = _limiter(limits)
    limiter.purge(session, now)
    waits = []
    pair = limiter.usage(session, _pair_key(name, ip), now)
    if pair.newest is not None:
        waits.append(pair.newest + delay_after(pair.count, limits) - now)
    if ip:
        usage = limiter.usage(session, _ip_key(ip), now)
        if usage.count >= limits.per_ip and usage.oldest is not None:
            waits.append(usage.oldest + limits.window - now)
    wait = max(waits, default=timedelta(0))
    if wait > timedelta(0):
        raise _refusal(wait)


def record_failure(
    session: Session, name: str, ip: str | None, limits: LoginLimits, now: datetime
) -> None:
    """Count one failed sign-in against the (account, address) pair and the address."""
    keys = [_pair_key(name, ip)] + ([_ip_key(ip)] if ip else [])
    _limiter(limits).record(session, keys, now)


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
    # A successful sign-in forgives this address's earlier typos on the account.
    _limiter(limits).forget(session, _pair_key(account, ip))
    return editor
