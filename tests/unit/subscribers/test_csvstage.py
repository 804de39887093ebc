"""CSV imports on PostgreSQL go through a temporary table: dry runs and repeated imports."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from newsletter.db import Database
from subscribers import csvio, suppression
from subscribers.models import Consent, Subscriber, Subscription, SubscriptionState
from subscribers.models import SuppressionReason as R
from tests.unit.subscribers.factories import seed, signup

FILE = "email,name\na@example.org,A\nb@example.org,B\nbad,X\nA@example.org,Again\nc@example.org,C\n"


def test_a_dry_run_then_a_real_run_in_one_transaction(
    any_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dry run leaves nothing, not even its table; the real run after it, in the same
    transaction, reports the same and writes each row once with its consent record."""
    monkeypatch.setattr(csvio, "CHUNK", 2)
    seed(any_database)
    path = tmp_path / "people.csv"
    path.write_text(FILE, encoding="utf-8")
    with any_database.session() as session:
        dry = csvio.import_csv(session, path, list_slug="daily", dry_run=True)
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
        real = csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
    assert [(p.row, p.reason.split(":")[0]) for p in real.problems] == [
        (4, "invalid address"),
        (5, "duplicate"),
    ]
    assert real.problems == dry.problems
    assert (real.imported, real.new_subscribers) == (dry.imported, dry.new_subscribers) == (3, 3)
    with any_database.session() as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 3
        assert session.scalar(select(func.count()).select_from(Consent)) == 3
        names = session.scalars(select(Subscriber.name).order_by(Subscriber.email)).all()
        assert names == ["A", "B", "C"]


def test_a_second_import_in_the_same_transaction_sees_the_first(
    any_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of one import never leak into the next: the second finds the first's
    subscribers on the list, a suppressed address and a pending sign-up, and writes only
    its new rows."""
    monkeypatch.setattr(csvio, "CHUNK", 2)
    seed(any_database)
    first = tmp_path / "first.csv"
    first.write_text("email\na@example.org\nb@example.org\nc@example.org\n", encoding="utf-8")
    second = tmp_path / "second.csv"
    second.write_text(
        "email,name\nb@example.org,B\nspam@example.org,S\nnew@example.org,N\n"
        "pending@example.org,P\n",
        encoding="utf-8",
    )
    with any_database.session() as session:
        suppression.suppress(session, "spam@example.org", R.SPAM_REPORT)
        signup(session, "pending@example.org")
        one = csvio.import_csv(session, first, list_slug="daily", confirmed=True, consent="x")
        two = csvio.import_csv(session, second, list_slug="daily", confirmed=True, consent="y")
    assert (one.imported, one.new_subscribers) == (3, 3)
    assert [(p.row, p.reason) for p in two.problems] == [
        (2, "already on the list (confirmed): left unchanged"),
        (3, "suppressed: spam_report"),
    ]
    assert (two.imported, two.new_subscribers, two.confirmed_pending) == (1, 1, 1)
    with any_database.session() as session:
        confirmed = session.scalars(
            select(Subscriber.email)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscription.state == SubscriptionState.CONFIRMED)
            .order_by(Subscriber.email)
        ).all()
        assert session.scalar(select(func.count()).select_from(Subscription)) == 5
        assert confirmed == [
            "a@example.org",
            "b@example.org",
            "c@example.org",
            "new@example.org",
            "pending@example.org",
        ]
        texts = session.scalars(select(Consent.text).order_by(Consent.id)).all()
        assert texts.count("y") == 2  # the new subscription and the confirmed sign-up


def test_postgresql_leaves_no_table_behind(
    pg_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary table goes with the import's transaction."""
    seed(pg_database)
    path = tmp_path / "people.csv"
    path.write_text(FILE, encoding="utf-8")
    with pg_database.session() as session:
        csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
        assert session.scalar(text("SELECT to_regclass('subscriber_import_rows')")) is not None
    with pg_database.session() as session:
        assert session.scalar(text("SELECT to_regclass('subscriber_import_rows')")) is None
