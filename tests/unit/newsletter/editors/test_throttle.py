"""Sign-in throttling per (account, address) with growing delays, and per address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from newsletter.db import Database, utcnow
from newsletter.editors import services
from newsletter.editors.models import Role
from newsletter.editors.throttle import LoginFailed, LoginLimits, delay_after, sign_in
from newsletter.errors import RateLimited

LIMITS = LoginLimits(
    free_per_address=3,
    first_delay=timedelta(seconds=30),
    max_delay=timedelta(minutes=8),
    per_ip=5,
    window=timedelta(minutes=10),
)
PATIENT = LoginLimits(max_delay=timedelta(minutes=8), per_ip=100)
GOOD = "good password!"


@pytest.fixture
def ann(database: Database) -> None:
    """An account called Ann."""
    with database.session() as session:
        services.create_editor(session, "Ann", "ann@example.org", Role.EDITOR, GOOD)


def _try(database: Database, name: str, password: str, ip: str = "10.0.0.1", **kw: object) -> str:
    with database.session() as session:
        try:
            return sign_in(session, name, password, ip=ip, limits=LIMITS, **kw).name  # type: ignore[arg-type]
        except (LoginFailed, RateLimited) as exc:
            return type(exc).__name__


def test_unknown_name_wrong_password_and_disabled_look_alike(database: Database, ann: None) -> None:
    """Every failure is the same LoginFailed, so the form does not reveal accounts."""
    assert _try(database, "Ann", GOOD) == "Ann"
    assert _try(database, "nobody", GOOD) == "LoginFailed"
    assert _try(database, "Ann", "bad password") == "LoginFailed"
    with database.session() as session:
        services.set_disabled(session, services.get_editor(session, "Ann"))
    assert _try(database, "Ann", GOOD) == "LoginFailed"


def test_failures_from_elsewhere_never_lock_the_owner_out(database: Database, ann: None) -> None:
    """Wrong passwords for Ann from other addresses (by name or email) slow those
    addresses, never Ann at her own (issue 17: the lock-out was a weapon)."""
    for n in range(10):
        _try(database, "ann@example.org", "bad", ip="10.6.6.6")
        _try(database, "Ann", "bad", ip=f"10.7.7.{n}")
    assert _try(database, "Ann", "bad", ip="10.6.6.6") == "RateLimited"
    assert _try(database, "Ann", GOOD, ip="10.9.9.9") == "Ann"


def test_delays_grow_for_one_account_from_one_address(database: Database, ann: None) -> None:
    """Three failures are free, then the pair waits 30 s, 60 s, 120 s ... at most 8 min."""
    now = utcnow()
    waits = []
    for attempt in range(15):
        with database.session() as session:
            try:
                sign_in(session, "Ann", "bad", ip="10.0.0.1", limits=PATIENT, now=now)
            except LoginFailed:
                pass
            except RateLimited as exc:
                waits.append(exc.retry_after)
                now += timedelta(seconds=exc.retry_after)
                continue
        del attempt
    assert waits[:4] == [30, 60, 120, 240]
    assert max(waits) == 480
    assert [delay_after(n, PATIENT).total_seconds() for n in (2, 3, 4, 10)] == [0, 30, 60, 480]


def test_ip_locks_after_its_failures_across_accounts(database: Database, ann: None) -> None:
    """Five failures from one IP on many names lock that IP, not others."""
    for n in range(5):
        _try(database, f"user{n}", "bad")
    assert _try(database, "Ann", GOOD) == "RateLimited"
    assert _try(database, "Ann", GOOD, ip="10.0.0.2") == "Ann"


def test_success_forgives_the_account(database: Database, ann: None) -> None:
    """A successful sign-in clears the account's earlier failures."""
    for _ in range(2):
        _try(database, "Ann", "bad", ip="")
    assert _try(database, "Ann", GOOD, ip="") == "Ann"
    for _ in range(2):
        _try(database, "Ann", "bad", ip="")
    assert _try(database, "Ann", GOOD, ip="") == "Ann"


def test_throttle_message_and_retry_after_agree(database: Database, ann: None) -> None:
    """The refusal states the same wait Retry-After carries: seconds, or whole minutes."""
    now = utcnow()
    for _ in range(4):
        _try(database, "Ann", "bad", now=now)
    with database.session() as session, pytest.raises(RateLimited) as caught:
        sign_in(session, "Ann", GOOD, ip="10.0.0.1", limits=LIMITS, now=now)
    assert "Try again in 30 seconds" in str(caught.value)
    assert caught.value.retry_after == 30
    for _ in range(2):
        _try(database, "Ann", "bad", now=now + timedelta(minutes=5))
    with database.session() as session, pytest.raises(RateLimited) as caught:
        sign_in(session, "Ann", GOOD, ip="10.0.0.1", limits=LIMITS, now=now + timedelta(minutes=5))
    assert "Try again in 1 minute." in str(caught.value)
    assert caught.value.retry_after == 60


def test_a_refused_sign_in_is_counted(database: Database, ann: None) -> None:
    """Each 429 adds one to newsletter_throttle_refusals_total{throttle="signin"}."""
    labels = {"throttle": "signin"}
    name = "newsletter_throttle_refusals_total"
    before = REGISTRY.get_sample_value(name, labels) or 0
    for n in range(5):
        _try(database, f"user{n}", "bad")
    assert _try(database, "Ann", GOOD) == "RateLimited"
    assert REGISTRY.get_sample_value(name, labels) == before + 1
