"""Personal data: export everything held about an address; erase it, keeping only a hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.db import Database
from newsletter.errors import NotFoundError
from subscribers import csvio, personal_data, services, suppression
from subscribers.addresses import email_hash
from subscribers.models import Consent, SignupAttempt, Subscription, Suppression
from subscribers.models import SuppressionReason as R
from subscribers.ratelimit import SignupLimits, check_signup
from tests.unit.subscribers.factories import seed, signup


def test_export_data_holds_profile_subscriptions_and_consents(database: Database) -> None:
    """The export lists the profile, each subscription and every consent with IP and browser."""
    seed(database)
    with database.session() as session:
        signup(session, "Ann@Example.org", name="Ann", topics=("Sport",))
        data = personal_data.export_data(session, "ann@example.org")
    assert data["email"] == "ann@example.org"
    assert data["subscriber"]["name"] == "Ann"
    assert data["subscriptions"][0]["list"] == "daily"
    assert data["subscriptions"][0]["state"] == "pending"
    assert data["subscriptions"][0]["topics"] == ["Sport"]
    assert data["consents"][0]["ip"] == "192.0.2.7"
    assert data["consents"][0]["user_agent"] == "TestBrowser/1.0"
    assert data["suppression"] is None


def test_export_data_of_unknown_address_is_not_found(database: Database) -> None:
    """An address we know nothing about raises NotFoundError."""
    with database.session() as session, pytest.raises(NotFoundError):
        personal_data.export_data(session, "nobody@example.org")


def test_erase_removes_everything_but_a_hash(database: Database, tmp_path: Path) -> None:
    """After erasure no row names the address; its hash blocks a re-import of an old CSV."""
    seed(database)
    with database.session() as session:
        signup(session, "ann@example.org", name="Ann")
        check_signup(session, ip="192.0.2.7", email="ann@example.org", limits=SignupLimits())
    with database.session() as session:
        personal_data.erase(session, "ANN@example.org")
    with database.session() as session:
        assert services.find_subscriber(session, "ann@example.org") is None
        for model in (Subscription, Consent):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        keys = session.scalars(select(SignupAttempt.key)).all()
        assert all(not key.startswith("email:") for key in keys)
        entry = session.scalars(select(Suppression)).one()
        assert (entry.email, entry.email_hash, entry.reason) == (
            None,
            email_hash("ann@example.org"),
            R.ERASED,
        )
        export = personal_data.export_data(session, "ann@example.org")
        assert export["subscriber"] is None
        assert export["suppression"]["reason"] == "erased"
    path = tmp_path / "old.csv"
    path.write_text("email\nann@example.org\n", encoding="utf-8")
    with database.session() as session:
        report = csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
    assert report.imported == 0
    assert report.problems[0].reason == "suppressed: erased"
    with database.session() as session, pytest.raises(NotFoundError):
        personal_data.erase(session, "ann@example.org")


def test_erase_keeps_the_original_suppression_reason(database: Database) -> None:
    """Erasing a hard-bounced address keeps 'hard_bounce' but drops the address itself."""
    seed(database)
    with database.session() as session:
        suppression.suppress(session, "bo@example.org", R.HARD_BOUNCE, note="550 no such user")
    with database.session() as session:
        personal_data.erase(session, "bo@example.org")
    with database.session() as session:
        entry = session.scalars(select(Suppression)).one()
        assert (entry.email, entry.reason, entry.note) == (None, R.HARD_BOUNCE, "")
