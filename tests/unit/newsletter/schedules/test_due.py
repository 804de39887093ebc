"""Due editions: weekdays, time zones, both daylight-saving transitions, one-offs, freshness."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from newsletter import parsing
from newsletter.content.edition import Cadence
from newsletter.localtime import local_instant
from newsletter.schedules import due
from newsletter.schedules.due import DueEdition, OneOff, Recurring

WINDOW = timedelta(hours=3)
DAILY = Cadence.DAILY
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def schedule(
    at: time = time(7, 0),
    zone: str = "Europe/London",
    days: str = "daily",
    *,
    publication_id: int = 1,
    since: datetime = EPOCH,
    paused: bool = False,
) -> Recurring:
    """A recurring schedule for tests."""
    days_set = parsing.parse_weekdays(days, field="--days")
    return Recurring(publication_id, at, days_set, zone, since, paused)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 28), utc(2026, 3, 28, 7, 0)),  # GMT, the day before spring forward
        (date(2026, 3, 29), utc(2026, 3, 29, 6, 0)),  # BST from 01:00 UTC that day
        (date(2026, 10, 24), utc(2026, 10, 24, 6, 0)),  # BST, the day before fall back
        (date(2026, 10, 25), utc(2026, 10, 25, 7, 0)),  # GMT again
    ],
)
def test_london_wall_clock_stays_at_seven(day: date, expected: datetime) -> None:
    """07:00 Europe/London stays 07:00 local on both transition days; the UTC instant moves."""
    instant = local_instant(day, time(7, 0), "Europe/London")
    assert instant == expected
    assert instant.astimezone(parsing.zone("Europe/London")).time() == time(7, 0)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 7), utc(2026, 3, 7, 12, 0)),  # EST
        (date(2026, 3, 8), utc(2026, 3, 8, 11, 0)),  # EDT from 07:00 UTC that day
        (date(2026, 10, 31), utc(2026, 10, 31, 11, 0)),
        (date(2026, 11, 1), utc(2026, 11, 1, 12, 0)),  # EST again
    ],
)
def test_new_york_wall_clock_stays_at_seven(day: date, expected: datetime) -> None:
    """07:00 America/New_York stays 07:00 local across both transitions."""
    assert local_instant(day, time(7, 0), "America/New_York") == expected


def test_nonexistent_london_time_runs_at_the_transition() -> None:
    """01:30 on London's spring-forward day does not exist: it runs at 02:00 BST (01:00 UTC)."""
    instant = local_instant(date(2026, 3, 29), time(1, 30), "Europe/London")
    assert instant == utc(2026, 3, 29, 1, 0)
    assert instant.astimezone(parsing.zone("Europe/London")).time() == time(2, 0)


def test_nonexistent_new_york_time_runs_at_the_transition() -> None:
    """02:30 on New York's spring-forward day does not exist: it runs at 03:00 EDT."""
    instant = local_instant(date(2026, 3, 8), time(2, 30), "America/New_York")
    assert instant == utc(2026, 3, 8, 7, 0)
    assert instant.astimezone(parsing.zone("America/New_York")).time() == time(3, 0)


def test_ambiguous_london_time_runs_at_first_occurrence() -> None:
    """01:30 occurs twice when London falls back: the edition runs at the first (BST) one."""
    assert local_instant(date(2026, 10, 25), time(1, 30), "Europe/London") == utc(
        2026, 10, 25, 0, 30
    )


def test_ambiguous_new_york_time_runs_once_at_first_occurrence() -> None:
    """01:30 twice in New York on fall-back day gives one edition, at 01:30 EDT (05:30 UTC)."""
    plan = schedule(time(1, 30), "America/New_York")
    found = list(due.occurrences(plan, utc(2026, 10, 31, 12, 0), utc(2026, 11, 2, 0, 0)))
    assert [(e.edition_date, e.due_at) for e in found] == [
        (date(2026, 11, 1), utc(2026, 11, 1, 5, 30))
    ]


def test_spring_forward_day_still_has_exactly_one_edition() -> None:
    """A schedule inside the skipped hour still yields one edition on the transition day."""
    plan = schedule(time(1, 30))
    found = list(due.occurrences(plan, utc(2026, 3, 28, 12, 0), utc(2026, 3, 30, 0, 0)))
    assert [e.edition_date for e in found] == [date(2026, 3, 29)]


def test_weekdays_only_on_chosen_days() -> None:
    """A mon-fri schedule has no edition on Saturday or Sunday."""
    plan = schedule(days="mon-fri", zone="UTC")
    found = list(due.occurrences(plan, utc(2026, 11, 20, 8, 0), utc(2026, 11, 27, 8, 0)))
    assert [e.edition_date.isoformat() for e in found] == [
        "2026-11-23",
        "2026-11-24",
        "2026-11-25",
        "2026-11-26",
        "2026-11-27",
    ]


def test_due_only_after_the_instant() -> None:
    """An edition is due once its instant has passed, not a minute before."""
    plan = schedule(zone="UTC")
    hour = timedelta(hours=1)
    found = due.due_editions(
        [plan], [], set(), utc(2026, 11, 25, 7, 0), window=WINDOW, lookback=hour
    )
    assert found == [DueEdition(1, date(2026, 11, 25), utc(2026, 11, 25, 7, 0), late=False)]
    before = due.due_editions(
        [plan], [], set(), utc(2026, 11, 25, 6, 59), window=WINDOW, lookback=hour
    )
    assert before == []


def test_taken_editions_are_not_due_again() -> None:
    """An edition already started (its key taken) is never returned again."""
    plan = schedule(zone="UTC")
    now = utc(2026, 11, 25, 7, 5)
    taken = {
        (1, date(2026, 11, 25), DAILY, ""),
        (1, date(2026, 11, 24), DAILY, ""),
        (1, date(2026, 11, 23), DAILY, ""),
    }
    assert due.due_editions([plan], [], taken, now, window=WINDOW) == []


def test_late_edition_is_flagged_for_missed() -> None:
    """An edition more than the window past its time is returned as late."""
    plan = schedule(zone="UTC")
    now = utc(2026, 11, 25, 10, 1)
    found = due.due_editions(
        [plan],
        [],
        {(1, date(2026, 11, 24), DAILY, ""), (1, date(2026, 11, 23), DAILY, "")},
        now,
        window=WINDOW,
    )
    assert found == [DueEdition(1, date(2026, 11, 25), utc(2026, 11, 25, 7, 0), late=True)]
    fresh = due.due_editions(
        [plan], [], set(), utc(2026, 11, 25, 10, 0), window=WINDOW, lookback=timedelta(hours=4)
    )
    assert [e.late for e in fresh] == [False]


def test_editions_before_the_schedule_began_are_not_due() -> None:
    """Setting or resuming a schedule at noon does not make this morning's edition due."""
    plan = schedule(zone="UTC", since=utc(2026, 11, 25, 12, 0))
    assert due.due_editions([plan], [], set(), utc(2026, 11, 25, 13, 0), window=WINDOW) == []


def test_paused_publication_has_nothing_due() -> None:
    """A paused publication's editions are not due."""
    plan = schedule(zone="UTC", paused=True)
    assert due.due_editions([plan], [], set(), utc(2026, 11, 25, 7, 1), window=WINDOW) == []
    assert due.next_occurrences(plan, utc(2026, 11, 25, 7, 1), 3) == []


def test_paused_publication_one_offs_are_not_due() -> None:
    """A one-off of a paused publication is not due; another publication's one-off still is."""
    paused = OneOff(9, 1, date(2026, 11, 25), utc(2026, 11, 25, 7, 0))
    running = OneOff(10, 2, date(2026, 11, 25), utc(2026, 11, 25, 7, 0))
    plans = [schedule(zone="UTC", paused=True), schedule(zone="UTC", days="sat", publication_id=2)]
    found = due.due_editions(
        plans, [paused, running], set(), utc(2026, 11, 25, 7, 1), window=WINDOW
    )
    assert [e.edition_id for e in found] == [10]


def test_one_off_replaces_the_recurring_edition_of_its_date() -> None:
    """A one-off for a date is due at its own time; the recurring one of that date is not."""
    plan = schedule(zone="UTC")
    one_off = OneOff(9, 1, date(2026, 11, 25), utc(2026, 11, 25, 15, 0))
    taken = {(1, date(2026, 11, 25), DAILY, "")}  # the one-off's own row
    morning = due.due_editions(
        [plan],
        [one_off],
        taken,
        utc(2026, 11, 25, 7, 1),
        window=WINDOW,
        lookback=timedelta(hours=1),
    )
    assert morning == []
    afternoon = due.due_editions(
        [plan],
        [one_off],
        taken,
        utc(2026, 11, 25, 15, 0),
        window=WINDOW,
        lookback=timedelta(hours=1),
    )
    assert afternoon == [
        DueEdition(1, date(2026, 11, 25), utc(2026, 11, 25, 15, 0), late=False, edition_id=9)
    ]


def test_one_off_past_the_window_is_late() -> None:
    """A one-off nobody started within the window is flagged late too."""
    one_off = OneOff(9, 1, date(2026, 11, 25), utc(2026, 11, 25, 7, 0))
    found = due.due_editions([], [one_off], set(), utc(2026, 11, 25, 10, 30), window=WINDOW)
    assert [e.late for e in found] == [True]


def test_next_occurrences_lists_upcoming_editions() -> None:
    """The next editions skip days off and keep local time across a transition."""
    plan = schedule(days="sat-sun")
    found = due.next_occurrences(plan, utc(2026, 10, 23, 0, 0), 3)
    assert [(e.edition_date.isoformat(), e.due_at.hour) for e in found] == [
        ("2026-10-24", 6),
        ("2026-10-25", 7),
        ("2026-10-31", 7),
    ]
