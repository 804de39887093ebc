"""Public changes: recorded with the change, flushed once per publication, retried from the DB."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import migrate
from newsletter.db import Database
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.publications.services import get_publication
from newsletter.publishing import changes
from newsletter.publishing.changes import Outcome
from newsletter.publishing.models import ChangeState, PublicChange
from tests.factories import make_publication
from tests.websubhub import Hub, running_hub

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
FEED = "https://news.example.org/p/morning/feeds/{}/rss.xml"
A, B, C = FEED.format("briefings"), FEED.format("editions"), FEED.format("topics/science")


@pytest.fixture
def morning(any_database: Database) -> Database:
    """A database holding publications 'morning' and 'evening' and nothing pending."""
    with any_database.session() as session:
        make_publication(session)
        make_publication(session, slug="evening", name="The Evening Test")
    return any_database


@pytest.fixture
def public(tmp_path: Path) -> Path:
    """The static export's folder (not yet created)."""
    return tmp_path / "public"


@pytest.fixture
def hub() -> Iterator[Hub]:
    """A hub that accepts every ping (tests script failures with ``hub.statuses``)."""
    with running_hub() as running:
        yield running


def record(
    database: Database, urls: list[str], *, slug: str = "morning", at: datetime = NOW
) -> int:
    """Record one change in its own committed transaction."""
    with database.session() as session:
        return changes.record(session, slug, urls, "test change", now=at)


def rows(database: Database) -> list[PublicChange]:
    """Every change, oldest first."""
    with database.session() as session:
        return list(session.scalars(select(PublicChange).order_by(PublicChange.id)))


def test_record_refuses_bad_values_naming_the_parameter(morning: Database) -> None:
    """A bad URL, an empty reason or an unknown publication is refused, and nothing is stored."""
    with morning.session() as session:
        with pytest.raises(InvalidInputError, match=r"feed_urls\[1\]: not an http\(s\) URL"):
            changes.record(session, "morning", [A, "ftp://x/feed"], "r")
        with pytest.raises(InvalidInputError, match="feed_urls: expected a list"):
            changes.record(session, "morning", A, "r")
        with pytest.raises(InvalidInputError, match="reason: must be 1 to 300 characters"):
            changes.record(session, "morning", [A], "  ")
        with pytest.raises(NotFoundError, match="unknown publication 'nope'"):
            changes.record(session, "nope", [A], "r")
    assert rows(morning) == []


def test_a_rollback_drops_the_change_with_the_change(morning: Database) -> None:
    """Recorded in the caller's transaction: if that rolls back, nothing is pending."""

    def correct() -> None:
        with morning.session() as session:
            changes.record(session, "morning", [A], "correction")
            raise RuntimeError("the correction failed")

    with pytest.raises(RuntimeError):
        correct()
    assert rows(morning) == []
    assert changes.flush(morning, None, None) == []


def test_changes_of_a_publication_are_coalesced_into_one_export_and_one_ping(
    morning: Database, public: Path, hub: Hub
) -> None:
    """Three pending changes make one export and one ping with the union of their URLs."""
    record(morning, [A, B])
    record(morning, [B, C])
    record(morning, [])
    [outcome] = changes.flush(morning, public, hub.url, now=NOW)
    assert (outcome.publication, outcome.changes, outcome.state) == ("morning", 3, ChangeState.DONE)
    assert hub.pings == [{"hub.mode": ["publish"], "hub.url": [A, B, C]}]
    assert (public / "p" / "morning" / "feeds" / "briefings" / "atom.xml").exists()
    assert (public / "index.html").exists()  # the home page lists every publication
    assert outcome.exported == len([p for p in public.rglob("*") if p.is_file()])
    assert not (public / "p" / "evening").exists()  # nothing pending there
    assert {r.state for r in rows(morning)} == {ChangeState.DONE}
    assert changes.flush(morning, public, hub.url, now=NOW) == []
    assert len(hub.pings) == 1


def test_each_publication_is_flushed_on_its_own(morning: Database, hub: Hub) -> None:
    """Two publications: two pings, each with its own URLs; ``publications`` limits the flush."""
    record(morning, [A])
    record(morning, [B], slug="evening")
    [evening] = changes.flush(morning, None, hub.url, publications=["evening"], now=NOW)
    assert evening.publication == "evening"
    assert hub.told() == [B]
    [morning_] = changes.flush(morning, None, hub.url, now=NOW)
    assert morning_.publication == "morning"
    assert hub.told() == [B, A]


def test_a_hub_that_is_down_is_retried_with_backoff_and_jitter(
    morning: Database, public: Path, hub: Hub
) -> None:
    """A 503 keeps the change pending (attempts, next try, error); the retry only pings."""
    hub.statuses = [503]
    record(morning, [A])
    [first] = changes.flush(morning, public, hub.url, now=NOW, rng=random.Random(1))
    assert first.state is ChangeState.PENDING
    assert first.exported is not None
    assert first.told is None
    assert first.hub_error is not None
    assert "answered 503" in first.hub_error
    [row] = rows(morning)
    assert row.attempts == 1
    assert row.exported_at == NOW
    assert row.announced_at is None
    assert row.last_error is not None
    assert "hub: WebSub hub" in row.last_error
    expected = random.Random(1).uniform(0.0, changes.RETRY_BASE_S)
    assert row.next_attempt_at == NOW + timedelta(seconds=expected)
    assert first.retry_at == row.next_attempt_at
    # Not due yet: nothing happens.
    assert changes.flush(morning, public, hub.url, now=NOW) == []
    (public / "index.html").unlink()
    [second] = changes.flush(morning, public, hub.url, now=row.next_attempt_at)
    assert second.state is ChangeState.DONE
    assert (second.exported, second.told) == (None, 1)  # the export was done already
    assert not (public / "index.html").exists()
    assert hub.told() == [A, A]
    [row] = rows(morning)
    assert (row.state, row.attempts, row.last_error) == (ChangeState.DONE, 2, None)


def test_the_backoff_grows_and_a_retry_after_is_honoured(morning: Database, hub: Hub) -> None:
    """The ceiling doubles with each attempt; a 429's Retry-After sets the next attempt exactly."""
    record(morning, [A])
    with morning.session() as session:
        session.scalars(select(PublicChange)).one().attempts = 4
    hub.statuses = [503]
    changes.flush(morning, None, hub.url, now=NOW, rng=random.Random(7))
    expected = random.Random(7).uniform(0.0, changes.RETRY_BASE_S * 2**4)
    assert rows(morning)[0].next_attempt_at == NOW + timedelta(seconds=expected)

    def limited(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "120"})

    later = NOW + timedelta(hours=1)
    [outcome] = changes.flush(
        morning,
        None,
        hub.url,
        now=later,
        client=lambda: httpx.Client(transport=httpx.MockTransport(limited)),
    )
    assert outcome.retry_at == later + timedelta(seconds=120)
    assert rows(morning)[0].attempts == 6


def test_a_permanent_hub_error_stops_the_change_and_is_logged(
    morning: Database, hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 is not retried: the change is failed with the hub's answer kept and logged."""
    hub.statuses = [400]
    record(morning, [A])
    [outcome] = changes.flush(morning, None, hub.url, now=NOW)
    assert outcome.state is ChangeState.FAILED
    [row] = rows(morning)
    assert row.state is ChangeState.FAILED
    assert row.finished_at == NOW
    assert row.last_error is not None
    assert "answered 400" in row.last_error
    assert "answered 400" in caplog.text
    assert changes.flush(morning, None, hub.url, now=NOW + timedelta(days=1)) == []
    assert len(hub.pings) == 1


def test_retries_give_up_after_the_bound_with_the_reason_kept(morning: Database) -> None:
    """A change still failing 24 hours after it was recorded is given up, the last error kept."""
    record(morning, [A])
    [outcome] = changes.flush(
        morning, None, "http://127.0.0.1:9/hub", now=NOW + changes.GIVE_UP_AFTER
    )
    assert outcome.state is ChangeState.GAVE_UP
    [row] = rows(morning)
    assert row.state is ChangeState.GAVE_UP
    assert row.last_error is not None
    assert row.last_error.startswith("gave up after 1 attempts over 1 day")
    assert "unreachable" in row.last_error


def test_a_fresh_change_is_not_given_up_with_an_old_one(morning: Database) -> None:
    """Changes are given up one by one, a day after each was recorded; the fresh one retries."""
    record(morning, [A])
    record(morning, [B], at=NOW + timedelta(hours=23))
    later = NOW + changes.GIVE_UP_AFTER
    [outcome] = changes.flush(morning, None, "http://127.0.0.1:9/hub", now=later)
    assert outcome.state is ChangeState.PENDING
    old, fresh = rows(morning)
    assert old.state is ChangeState.GAVE_UP
    assert (fresh.state, fresh.attempts) == (ChangeState.PENDING, 1)
    assert fresh.next_attempt_at > later


def test_an_export_that_fails_is_retried_while_the_hub_is_told(
    morning: Database, tmp_path: Path, hub: Hub
) -> None:
    """An export's OSError keeps the change pending; the hub hears once; the retry exports."""
    blocked = tmp_path / "public"
    blocked.write_text("a file where the folder should be")
    record(morning, [A])
    [first] = changes.flush(morning, blocked, hub.url, now=NOW)
    assert first.state is ChangeState.PENDING
    assert first.export_error is not None
    assert first.export_error.startswith(("FileExistsError", "NotADirectoryError"))
    assert first.told == 1
    blocked.unlink()
    [second] = changes.flush(morning, blocked, hub.url, now=NOW + timedelta(hours=2))
    assert second.state is ChangeState.DONE
    assert second.exported
    assert second.told is None
    assert len(hub.pings) == 1


def test_an_export_that_cannot_succeed_stops_the_change(
    morning: Database, public: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export refused for a user error (the publication cannot be exported) is not retried."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise NotFoundError("unknown publication 'morning'")

    monkeypatch.setattr(changes, "export_feeds", refuse)
    record(morning, [A])
    [outcome] = changes.flush(morning, public, None, now=NOW)
    assert outcome.state is ChangeState.FAILED
    assert rows(morning)[0].last_error == "export: unknown publication 'morning'"


def test_without_a_folder_or_hub_a_change_is_done_at_once(morning: Database) -> None:
    """Nothing configured: flushing marks the change done and says so."""
    record(morning, [A])
    [outcome] = changes.flush(morning, None, None, now=NOW)
    assert outcome.state is ChangeState.DONE
    assert outcome.lines(None, None) == [
        "morning: no static export configured.",
        "morning: no WebSub hub configured.",
    ]


def test_pending_changes_survive_a_restart(tmp_path: Path, hub: Hub) -> None:
    """A change left pending by one process is flushed by a new ``newsletter`` process."""
    first = Database(f"sqlite:///{tmp_path / 'newsletter.sqlite3'}")
    migrate.upgrade(first.engine)
    with first.session() as session:
        make_publication(session)
    hub.statuses = [502]
    record(first, [A])
    assert changes.flush(first, None, hub.url, now=NOW)[0].state is ChangeState.PENDING
    with first.session() as session:
        assert changes.due_count(session, NOW) == 0
        assert changes.due_count(session, NOW + timedelta(hours=1)) == 1
    first.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env |= {"NEWSLETTER_DATA_DIR": str(tmp_path), "NEWSLETTER_WEBSUB_HUB_URL": hub.url}
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "publishing", "flush"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"morning: told the WebSub hub {hub.url} about 1 feeds." in done.stdout
    assert (tmp_path / "public" / "p" / "morning" / "feeds").is_dir()
    assert hub.told() == [A, A]
    again = Database(f"sqlite:///{tmp_path / 'newsletter.sqlite3'}")
    assert rows(again)[0].state is ChangeState.DONE
    again.dispose()


def test_a_second_flusher_skips_a_publication_being_flushed(
    pg_database: Database, hub: Hub
) -> None:
    """On PostgreSQL, while one flusher holds a publication another skips it (no double ping)."""
    with pg_database.session() as session:
        make_publication(session)
    record(pg_database, [A])
    with pg_database.session() as holder:
        [claimed] = changes._claim(holder, claimed_id(holder), NOW, force=False) or []
        [outcome] = changes.flush(pg_database, None, hub.url, now=NOW)
        assert outcome.busy
        assert outcome.state is ChangeState.PENDING
        assert hub.pings == []
        assert claimed.state is ChangeState.PENDING
    # The holder ended without finishing: the change is still there for the next flush.
    record(pg_database, [B])
    [outcome] = changes.flush(pg_database, None, hub.url, now=NOW)
    assert (outcome.changes, outcome.state) == (2, ChangeState.DONE)
    assert hub.told() == [A, B]


def claimed_id(session: Session) -> int:
    """The id of publication 'morning'."""
    return get_publication(session, "morning").id


def test_list_changes_shows_what_is_not_done(morning: Database, hub: Hub) -> None:
    """Pending and failed changes are listed newest first; done ones only when asked."""
    record(morning, [A])
    changes.flush(morning, None, hub.url, now=NOW)
    record(morning, [B], slug="evening")
    with morning.session() as session:
        [(slug, change)] = changes.list_changes(session)
        assert (slug, change.state) == ("evening", ChangeState.PENDING)
        assert [s for s, _ in changes.list_changes(session, finished=True)] == [
            "evening",
            "morning",
        ]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (
            Outcome(
                "m",
                1,
                ChangeState.PENDING,
                export_error="OSError: full",
                hub_error="down",
                attempts=2,
                retry_at=NOW,
            ),
            [
                "m: static export failed: OSError: full.",
                "m: WebSub hub not told: down.",
                "m: will retry at 2026-03-02 07:00:00 UTC (attempt 2 failed).",
            ],
        ),
        (
            Outcome("m", 1, ChangeState.FAILED, exported=3, hub_error="refused"),
            [
                "m: exported 3 files to /p.",
                "m: WebSub hub not told: refused.",
                "m: not retried: the hub refused the ping.",
            ],
        ),
        (
            Outcome("m", 1, ChangeState.GAVE_UP, hub_error="down", attempts=9),
            ["m: WebSub hub not told: down.", "m: gave up after 9 attempts."],
        ),
        (
            Outcome("m", 0, ChangeState.PENDING, busy=True),
            ["m: another process is publishing it now; what it leaves pending is retried."],
        ),
    ],
)
def test_outcome_lines_say_what_happened(outcome: Outcome, expected: list[str]) -> None:
    """The lines the CLI prints name the export, the hub and any retry."""
    assert outcome.lines(Path("/p"), "https://hub.example/") == expected
