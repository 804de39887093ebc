"""Named slots: their rules, the editions they make due, claiming and assembling them.

A publication with a morning and an evening slot has two daily editions of a date,
each claimed once under its own key, each taking the briefings approved before its
own cut-off that the other did not carry.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from newsletter.content.edition import Cadence
from newsletter.content.slots import SlotSpec, check_name, check_slots, clash
from newsletter.db import Database
from newsletter.digests.models import Digest
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.parsing import WEEKDAYS
from newsletter.pipeline.steps import assemble_step
from newsletter.publications.services import get_publication
from newsletter.schedules import claim, due, slots
from newsletter.schedules.editions import schedule_once
from newsletter.schedules.models import EditionState, ScheduledEdition
from tests.factories import make_briefing
from tests.unit.newsletter.schedules import seed

WINDOW = timedelta(hours=3)
EVERY_DAY = frozenset(WEEKDAYS)
# Wednesday 4 March 2026, UTC.
DAY = date(2026, 3, 4)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    """An aware UTC instant on ``day``."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def slot(name: str, hour: int, minute: int = 0, cutoff: int = 0, days: str = "daily") -> SlotSpec:
    """A slot spec for tests."""
    weekdays = EVERY_DAY if days == "daily" else frozenset(days.split(","))
    return SlotSpec(name, time(hour, minute), weekdays, cutoff)


MORNING = slot("morning", 7, cutoff=30)
EVENING = slot("evening", 18, cutoff=60)


# --- the rules ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Morning", "morning slot", "", "x" * 41, "-am"])
def test_a_slot_name_must_be_a_short_slug(name: str) -> None:
    """Names go into URLs: anything else is refused naming the field."""
    with pytest.raises(InvalidInputError, match=r"^--name: .* is not a slot name"):
        check_name(name, field="--name")


@pytest.mark.parametrize("name", ["for", "weekly"])
def test_words_edition_urls_use_are_reserved(name: str) -> None:
    """``for`` (variant pages) and ``weekly`` (roundups) would make two pages one URL."""
    with pytest.raises(InvalidInputError, match="reserved"):
        check_name(name, field="--name")


def test_morning_and_evening_do_not_clash() -> None:
    """Windows 06:30-07:00 and 17:00-18:00 are apart."""
    assert clash(MORNING, EVENING) is None
    check_slots([MORNING, EVENING], field="slots")


def test_same_time_on_a_shared_day_clashes() -> None:
    """Two slots at 07:00 on Monday are refused; on different days they are fine."""
    assert "same time" in (clash(slot("a", 7, days="mon"), slot("b", 7, days="mon,tue")) or "")
    assert clash(slot("a", 7, days="mon"), slot("b", 7, days="tue")) is None


def test_a_cutoff_window_overlapping_another_slot_clashes() -> None:
    """A 08:00 slot with a 90-minute cut-off starts at 06:30: the 07:00 slot is inside."""
    reason = clash(slot("late", 8, cutoff=90), MORNING)
    assert reason is not None
    assert "overlaps" in reason
    with pytest.raises(InvalidInputError, match=r"^slots: 'late' .* overlaps"):
        check_slots([MORNING, slot("late", 8, cutoff=90)], field="slots")


def test_windows_are_compared_across_midnight_and_the_end_of_the_week() -> None:
    """00:15 on Monday with a 30-minute cut-off starts Sunday 23:45: a Sunday 23:50 slot
    is inside it; a Saturday one is not."""
    early = slot("early", 0, 15, cutoff=30, days="mon")
    assert clash(early, slot("late", 23, 50, days="sun")) is not None
    assert clash(early, slot("late", 23, 50, days="sat")) is None


def test_a_name_given_twice_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="given twice"):
        check_slots([MORNING, slot("morning", 12)], field="slots")


# --- what is due ----------------------------------------------------------------------


def recurring(*slots: SlotSpec, since: datetime = at(0, 0, date(2026, 1, 1))) -> due.Recurring:
    """A UTC publication sending daily at 07:00 on its main schedule, with ``slots``."""
    return due.Recurring(
        publication_id=1,
        send_time=time(7, 0),
        weekdays=EVERY_DAY,
        timezone="UTC",
        active_since=since,
        slots=tuple(
            due.Slot(s.name, s.send_time, s.weekdays, s.cutoff_minutes, since) for s in slots
        ),
    )


def test_each_slot_gives_its_own_edition_at_its_own_time() -> None:
    """Morning at 07:00 (cut-off 06:30) and evening at 18:00 (cut-off 17:00); no edition
    of the main schedule (slot "") once the publication has slots."""
    found = due.due_editions([recurring(MORNING, EVENING)], [], set(), at(18, 1), window=WINDOW)
    today = [e for e in found if e.edition_date == DAY]
    assert [(e.slot, e.due_at, e.cutoff) for e in today] == [
        ("morning", at(7), at(6, 30)),
        ("evening", at(18), at(17)),
    ]
    assert [e.late for e in today] == [True, False]  # the morning is past its window
    assert {e.key for e in today} == {
        (1, DAY, Cadence.DAILY, "morning"),
        (1, DAY, Cadence.DAILY, "evening"),
    }


def test_without_slots_the_main_schedule_is_unchanged() -> None:
    found = due.due_editions([recurring()], [], set(), at(7, 1), window=WINDOW)
    assert [(e.edition_date, e.slot, e.cutoff) for e in found if e.edition_date == DAY] == [
        (DAY, "", None)
    ]


def test_a_taken_slot_is_not_due_again_but_the_other_is() -> None:
    taken = {(1, DAY, Cadence.DAILY, "morning")}
    found = due.due_editions(
        [recurring(MORNING, EVENING)], [], taken, at(18, 1), window=WINDOW, lookback=WINDOW
    )
    assert [e.slot for e in found] == ["evening"]


def test_a_slot_counts_from_when_it_was_added() -> None:
    """A slot added at noon does not make this morning's 07:00 edition due (or missed)."""
    schedule = recurring(MORNING)
    added = due.Slot("morning", time(7), EVERY_DAY, 30, active_since=at(12))
    schedule = due.Recurring(**{**schedule.__dict__, "slots": (added,)})
    assert due.due_editions([schedule], [], set(), at(13), window=WINDOW) == []


def test_weekly_roundups_stay_on_the_main_schedule() -> None:
    """With slots, the roundup still comes at the main send time, under slot ""."""
    schedule = recurring(MORNING, EVENING)
    schedule = due.Recurring(**{**schedule.__dict__, "weekly_days": frozenset({"wed"})})
    found = due.due_editions([schedule], [], set(), at(7, 5), window=WINDOW, lookback=WINDOW)
    assert [(e.cadence, e.slot) for e in found] == [
        (Cadence.DAILY, "morning"),
        (Cadence.WEEKLY, ""),
    ]


def test_next_occurrences_interleave_the_slots() -> None:
    upcoming = due.next_occurrences(recurring(MORNING, EVENING), at(12), 3)
    assert [(e.edition_date, e.slot) for e in upcoming] == [
        (DAY, "evening"),
        (DAY + timedelta(days=1), "morning"),
        (DAY + timedelta(days=1), "evening"),
    ]


# --- services on a database -----------------------------------------------------------


def add_slots(database: Database, *, created: datetime = at(0)) -> None:
    """Publication 'morning' (UTC, no briefings) with a morning and an evening slot."""
    with database.session() as session:
        seed.publication(session, briefings=0, created=created)
        for spec in (MORNING, EVENING):
            slots.add_slot(session, "morning", spec, now=created)


def test_slots_are_stored_and_refused_with_the_field_named(any_database: Database) -> None:
    add_slots(any_database)
    with any_database.session() as session:
        names = [row.name for row in slots.slots_of(session, get_publication(session, "morning"))]
        assert names == ["morning", "evening"]
        with pytest.raises(InvalidInputError, match=r"^--time: .* same time"):
            slots.add_slot(session, "morning", slot("breakfast", 7, 0))
        with pytest.raises(InvalidInputError, match=r"^--name: morning already has a slot"):
            slots.add_slot(session, "morning", slot("morning", 12))
        with pytest.raises(InvalidInputError, match=r"^--cutoff: "):
            slots.add_slot(session, "morning", slot("noon", 12, cutoff=-5))
        with pytest.raises(NotFoundError, match=r"^--name: morning has no slot 'noon'"):
            slots.remove_slot(session, "morning", "noon")
        slots.remove_slot(session, "morning", "evening")
        assert [
            row.name for row in slots.slots_of(session, get_publication(session, "morning"))
        ] == ["morning"]


def test_local_delivery_and_slots_do_not_combine(any_database: Database) -> None:
    with any_database.session() as session:
        seed.publication(session, briefings=0, local_delivery=True)
        with pytest.raises(InvalidInputError, match="each reader's own local time"):
            slots.add_slot(session, "morning", MORNING)


def editions(database: Database) -> list[tuple[str, EditionState]]:
    with database.session() as session:
        return [
            (e.slot, e.state)
            for e in session.scalars(select(ScheduledEdition).order_by(ScheduledEdition.due_at))
        ]


def test_each_slot_edition_is_claimed_once(any_database: Database) -> None:
    """The morning is claimed at 07:00, the evening at 18:00, neither twice."""
    add_slots(any_database)
    for now in (at(7, 1), at(7, 2), at(18, 1), at(18, 2)):
        with any_database.session() as session:
            claim.claim_due(session, now, window=WINDOW)
    assert editions(any_database) == [
        ("morning", EditionState.STARTED),
        ("evening", EditionState.STARTED),
    ]


def test_a_briefing_goes_into_the_next_slot_after_its_approval(any_database: Database) -> None:
    """Approved 06:00: morning. Approved 06:45 (after the morning's 06:30 cut-off) and
    16:00: evening. Approved 17:30 (after the evening's 17:00 cut-off): neither."""
    add_slots(any_database)
    with any_database.session() as session:
        for slug, approved in (("early", at(6)), ("late", at(6, 45)), ("noon", at(16))):
            make_briefing(session, slug=slug, approved_at=approved)
        make_briefing(session, slug="after", approved_at=at(17, 30))
    carried: dict[str, list[str]] = {}
    for now in (at(7, 1), at(18, 1)):
        with any_database.session() as session:
            started = claim.claim_due(session, now, window=WINDOW).started
        for edition_id in started:
            with any_database.session() as session:
                assemble_step(session, edition_id, now=now, window=WINDOW)
    with any_database.session() as session:
        for digest in session.scalars(select(Digest).order_by(Digest.cutoff_at)):
            carried[digest.slot] = [item.content["slug"] for item in digest.items]
            assert digest.label().endswith(f"{DAY.isoformat()} {digest.slot})")
    assert carried == {"morning": ["early"], "evening": ["late", "noon"]}


def test_a_one_off_for_a_slot_replaces_its_recurring_edition(any_database: Database) -> None:
    add_slots(any_database)
    wall = datetime(2026, 3, 4, 19, 30)  # noqa: DTZ001 - a wall-clock time, as --at gives it
    with any_database.session() as session:
        schedule_once(session, "morning", wall, slot="evening", now=at(12))
        with pytest.raises(InvalidInputError, match="already scheduled"):
            schedule_once(session, "morning", wall, slot="evening", now=at(12))
        with pytest.raises(NotFoundError, match="--slot: morning has no slot 'noon'"):
            schedule_once(session, "morning", wall, slot="noon", now=at(12))
    with any_database.session() as session:
        claim.claim_due(session, at(18, 1), window=WINDOW)  # the recurring evening: no
        claim.claim_due(session, at(19, 31), window=WINDOW)
    # The morning (07:00) was past its window by 18:01; the evening went at 19:30 only.
    assert editions(any_database) == [
        ("morning", EditionState.MISSED),
        ("evening", EditionState.STARTED),
    ]
    with any_database.session() as session:
        evening = session.scalars(
            select(ScheduledEdition).where(ScheduledEdition.slot != "morning")
        ).one()
        assert evening.due_at == at(19, 30)


def test_slot_editions_started_together_are_assembled_in_slot_order(
    any_database: Database,
) -> None:
    """Both slots claimed by one tick (after an outage): the worker may run the evening's
    step first; the morning is assembled before it, so each keeps its own briefings."""
    add_slots(any_database)
    with any_database.session() as session:
        make_briefing(session, slug="early", approved_at=at(6))
        make_briefing(session, slug="noon", approved_at=at(16))
    now = at(18, 5)
    with any_database.session() as session:
        started = claim.claim_due(session, now, window=timedelta(hours=12)).started
    assert len(started) == 2
    for edition_id in reversed(started):  # the evening's step first
        with any_database.session() as session:
            assemble_step(session, edition_id, now=now, window=timedelta(hours=12))
    with any_database.session() as session:
        carried = {
            d.slot: [item.content["slug"] for item in d.items]
            for d in session.scalars(select(Digest))
        }
        digest_ids = {e.slot: e.digest_id for e in session.scalars(select(ScheduledEdition))}
    assert carried == {"morning": ["early"], "evening": ["noon"]}
    assert None not in digest_ids.values()
