"""Sign-in throttling per account and per IP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from newsletter.db import Database, utcnow
from newsletter.editors import services
from newsletter.editors.models import Role
from newsletter.editors.throttle import LoginFailed, LoginLimits, sign_in
from newsletter.errors import RateLimited

LIMITS = LoginLimits(per_account=3, per_ip=5, window=timedelta(minutes=10))
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


def test_account_locks_after_its_failures_whatever_the_ip(database: Database, ann: None) -> None:
    """Three failures from different IPs lock Ann, by name or email, until the window passes."""
    for n in range(3):
        assert _try(database, "ann@example.org", "bad", ip=f"10.0.0.{n}") == "LoginFailed"
    assert _try(database, "Ann", GOOD, ip="10.9.9.9") == "RateLimited"
    later = utcnow() + timedelta(minutes=11)
    assert _try(database, "Ann", GOOD, ip="10.9.9.9", now=later) == "Ann"


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


def test_throttle_message_says_how_long(database: Database, ann: None) -> None:
    """The refusal says when to try again and carries a Retry-After value."""
    for _ in range(3):
        _try(database, "Ann", "bad")
    with database.session() as session, pytest.raises(RateLimited) as caught:
        sign_in(session, "Ann", GOOD, ip="10.0.0.1", limits=LIMITS)
    assert "Try again in 10 minutes" in str(caught.value)
    assert 0 < caught.value.retry_after <= 601
