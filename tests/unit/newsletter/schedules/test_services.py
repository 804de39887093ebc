"""Schedule services: claiming due editions exactly once, missed editions, one-offs, cancelling."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from newsletter.db import Database
from newsletter.digests.models import DigestState
from newsletter.digests.services import assemble_digest, get_digest
from newsletter.errors import InvalidInputError, NotFoundError, TransitionError
from newsletter.pipeline import cancel as pipeline_cancel
from newsletter.schedules import claim, editions, services
from newsletter.schedules.models import (
    EditionKind,
    EditionState,
    ScheduleActivity,
    ScheduledEdition,
)
from tests.unit.newsletter.schedules import seed

WINDOW = timedelta(hours=3)
# 07:05 UTC on a Wednesday: each seeded publication's 07:00 edition is five minutes old.
NOW = datetime(2026, 3, 4, 7, 5, tzinfo=UTC)
TODAY = date(2026, 3, 4)


def wall(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time of March 2026 in no zone, as the CLI's ``--at`` gives it.

    ``schedule_once`` places it in the publication's time zone: naive is the point.
    """
    return datetime(2026, 3, day, hour, minute)  # noqa: DTZ001 - a wall-clock time, see above


def rows(database: Database) -> list[tuple[str, date, EditionState, EditionKind]]:
    """Every scheduled edition as (publication, date, state, kind)."""
    with database.session() as session:
        return [
            (e.publication.slug, e.edition_date, e.state, e.kind)
            for e in session.scalars(select(ScheduledEdition).order_by(ScheduledEdition.id))
        ]


def test_tick_starts_a_due_edition_once(any_database: Database) -> None:
    """A due edition is claimed by the first tick; a second tick starts nothing."""
    with any_database.session() as session:
        seed.publication(session, created=NOW - timedelta(hours=1))
    with any_database.session() as session:
        first = claim.claim_due(session, NOW, window=WINDOW)
    with any_database.session() as session:
        second = claim.claim_due(session, NOW + timedelta(minutes=1), window=WINDOW)
    assert len(first.started) == 1
    assert first.missed == []
    assert second.started == second.missed == []
    assert rows(any_database) == [("morning", TODAY, EditionState.STARTED, EditionKind.RECURRING)]


def test_concurrent_ticks_start_each_edition_once(any_database: Database) -> None:
    """Ticks racing on two connections claim every due edition exactly once between them."""
    with any_database.session() as session:
        for n in range(4):
            seed.publication(session, slug=f"pub{n}", briefings=0, created=NOW - timedelta(hours=1))
    started: list[int] = []
    barrier = threading.Barrier(2)

    def tick() -> None:
        barrier.wait()
        for _ in range(50):  # SQLite may refuse a write that lost the race: the task retries
            try:
                with any_database.session() as session:
                    started.extend(claim.claim_due(session, NOW, window=WINDOW).started)
                return
            except OperationalError:
                continue

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(started) == sorted(set(started))
    assert len(started) == 4
    assert len(rows(any_database)) == 4


def test_late_edition_is_marked_missed_with_the_reason(any_database: Database) -> None:
    """An edition past the freshness window is recorded missed, saying why, and never started."""
    with any_database.session() as session:
        seed.publication(session, created=NOW - timedelta(hours=6))
        result = claim.claim_due(session, NOW + timedelta(hours=3, minutes=1), window=WINDOW)
    assert result.started == []
    assert len(result.missed) == 1
    with any_database.session() as session:
        edition = editions.get_edition(session, result.missed[0])
        assert edition.state is EditionState.MISSED
        assert "not started within 3:00:00" in (edition.reason or "")


def test_hand_assembled_digest_takes_its_date(database: Database) -> None:
    """A digest assembled by hand for today means the tick does not start today's edition."""
    with database.session() as session:
        pub = seed.publication(session, created=NOW - timedelta(hours=1))
        assemble_digest(session, pub, TODAY, now=NOW)
        assert claim.claim_due(session, NOW, window=WINDOW).started == []


def test_set_schedule_counts_from_now(database: Database) -> None:
    """Changing the schedule stores it and makes earlier editions of the day not due."""
    with database.session() as session:
        seed.publication(session)
        services.set_schedule(
            session,
            "morning",
            send_time=time(6, 30),
            timezone="Europe/London",
            weekdays=frozenset({"wed", "mon"}),
            now=NOW,
        )
        pub = services.get_publication(session, "morning")
        assert (pub.send_time, pub.timezone, pub.weekdays) == (
            time(6, 30),
            "Europe/London",
            ["mon", "wed"],
        )
        assert services.active_since(session, pub) == NOW
        assert claim.claim_due(session, NOW, window=WINDOW).started == []


@pytest.mark.parametrize(
    ("zone", "days", "match"),
    [("Nowhere/Land", {"mon"}, "timezone"), ("UTC", set(), "--days")],
)
def test_set_schedule_refuses_bad_values(
    database: Database, zone: str, days: set[str], match: str
) -> None:
    """An unknown time zone or an empty day list is refused and changes nothing."""
    with database.session() as session:
        seed.publication(session)
        with pytest.raises(InvalidInputError, match=match):
            services.set_schedule(
                session, "morning", send_time=time(8), timezone=zone, weekdays=frozenset(days)
            )
        assert session.scalar(select(ScheduleActivity)) is None


def test_paused_publication_starts_nothing_and_resume_skips_the_gap(database: Database) -> None:
    """Paused: nothing due; resumed: editions due during the pause are not sent late."""
    with database.session() as session:
        seed.publication(session)
        services.set_paused(session, "morning", True, now=NOW - timedelta(days=2))
        assert claim.claim_due(session, NOW, window=WINDOW).started == []
        services.set_paused(session, "morning", False, now=NOW)
        assert claim.claim_due(session, NOW, window=WINDOW) == claim.TickResult()
        later = claim.claim_due(session, NOW + timedelta(days=1), window=WINDOW)
        assert len(later.started) == 1


def test_paused_publication_refuses_one_offs_and_send_now(database: Database) -> None:
    """While paused, neither a one-off nor send-now is accepted; the error says how to resume."""
    with database.session() as session:
        seed.publication(session)
        services.set_paused(session, "morning", True, now=NOW)
        with pytest.raises(InvalidInputError, match="publications resume morning"):
            editions.schedule_once(session, "morning", wall(5, 9), now=NOW)
        with pytest.raises(InvalidInputError, match="morning is paused"):
            editions.send_now(session, "morning", now=NOW)
        assert session.scalar(select(ScheduledEdition)) is None


@pytest.mark.parametrize(
    ("paused_for", "state"),
    [(timedelta(hours=1), EditionState.STARTED), (timedelta(hours=4), EditionState.MISSED)],
)
def test_one_off_waits_while_paused(
    database: Database, paused_for: timedelta, state: EditionState
) -> None:
    """A one-off due during a pause is not started; on resume it starts, or is missed if stale."""
    with database.session() as session:
        seed.publication(session, weekdays=["sat"])
        edition = editions.schedule_once(session, "morning", wall(4, 9), now=NOW)
        services.set_paused(session, "morning", True, now=NOW)
        due_at = edition.due_at
        assert claim.claim_due(session, due_at, window=WINDOW) == claim.TickResult()
        assert editions.get_edition(session, edition.id).state is EditionState.SCHEDULED
        resumed = due_at + paused_for
        services.set_paused(session, "morning", False, now=resumed)
        claim.claim_due(session, resumed, window=WINDOW)
        session.refresh(edition)
        assert edition.state is state


def test_one_off_edition_starts_at_its_time(database: Database) -> None:
    """A one-off waits in ``scheduled`` until its local time, then one tick starts it."""
    with database.session() as session:
        seed.publication(session, timezone="Europe/London", weekdays=["sat"])
        edition = editions.schedule_once(session, "morning", wall(4, 15), now=NOW)
        assert edition.due_at == datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
        assert claim.claim_due(session, NOW, window=WINDOW).started == []
        at_three = NOW.replace(hour=15)
        assert claim.claim_due(session, at_three, window=WINDOW).started == [edition.id]
        assert claim.claim_due(session, at_three, window=WINDOW).started == []
        assert edition.state is EditionState.STARTED or session.refresh(edition) is None


def test_one_off_refuses_past_times_and_taken_dates(database: Database) -> None:
    """A one-off in the past, or on a date that already has an edition, is refused."""
    with database.session() as session:
        seed.publication(session)
        with pytest.raises(InvalidInputError, match="in the past"):
            editions.schedule_once(session, "morning", wall(4, 7), now=NOW)
        editions.schedule_once(session, "morning", wall(5, 9), now=NOW)
        with pytest.raises(InvalidInputError, match="already scheduled"):
            editions.schedule_once(session, "morning", wall(5, 18), now=NOW)
        assemble_digest(session, services.get_publication(session, "morning"), TODAY, now=NOW)
        with pytest.raises(InvalidInputError, match="already exists"):
            editions.send_now(session, "morning", now=NOW)


def test_send_now_is_due_immediately(database: Database) -> None:
    """send-now adds today's edition, due at once, and the next tick starts it."""
    with database.session() as session:
        seed.publication(session, weekdays=["sat"])
        edition = editions.send_now(session, "morning", now=NOW)
        assert (edition.kind, edition.edition_date) == (EditionKind.NOW, TODAY)
        assert claim.claim_due(session, NOW, window=WINDOW).started == [edition.id]


def test_cancel_before_start_and_after_assembly(database: Database) -> None:
    """Cancelling a scheduled edition, or a started one not yet sending, cancels its digest too."""
    with database.session() as session:
        pub = seed.publication(session)
        waiting = editions.schedule_once(session, "morning", wall(5, 9), now=NOW)
        assert pipeline_cancel.cancel(session, waiting.id).edition.state is EditionState.CANCELLED
        started = claim.claim_due(session, NOW, window=WINDOW).started[0]
        edition = editions.get_edition(session, started)
        edition.digest_id = assemble_digest(session, pub, TODAY, now=NOW).digest.id
        pipeline_cancel.cancel(session, started)
        assert get_digest(session, edition.digest_id).state is DigestState.CANCELLED
        with pytest.raises(TransitionError, match="already cancelled"):
            pipeline_cancel.cancel(session, started)


def test_cancel_refuses_a_finished_edition(database: Database) -> None:
    """An edition whose digest was already sent cannot be cancelled."""
    with database.session() as session:
        pub = seed.publication(session)
        started = claim.claim_due(session, NOW, window=WINDOW).started[0]
        edition = editions.get_edition(session, started)
        digest = assemble_digest(session, pub, TODAY, now=NOW).digest
        digest.state = DigestState.SENT
        edition.digest_id = digest.id
        with pytest.raises(TransitionError, match="already sent"):
            pipeline_cancel.cancel(session, started)
        with pytest.raises(NotFoundError):
            pipeline_cancel.cancel(session, 999)
        with pytest.raises(NotFoundError):
            editions.get_edition(session, 999)


def test_list_shows_digest_state(database: Database) -> None:
    """The edition list pairs each edition with its digest's state, filtered by publication."""
    with database.session() as session:
        pub = seed.publication(session, created=NOW - timedelta(hours=1))
        seed.publication(session, slug="evening", briefings=0, created=NOW - timedelta(hours=1))
        started = claim.claim_due(session, NOW, window=WINDOW).started
        first = editions.get_edition(session, started[0])
        first.digest_id = assemble_digest(session, pub, TODAY, now=NOW).digest.id
        listed = editions.editions_with_digest_state(session, slug="morning")
        assert [(e.publication.slug, state) for e, state in listed] == [("morning", "assembled")]
        assert len(editions.editions_with_digest_state(session)) == 2
