"""Weekly roundups and local delivery in the scheduler: occurrences, cut-offs over readers'
zones (with daylight-saving changes), claims keyed by cadence, one-off roundups, the list."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import newsletter.cli  # noqa: F401  (first: the root CLI imports every feature's commands)
from newsletter import parsing
from newsletter.content.edition import Cadence
from newsletter.db import Database
from newsletter.digests.models import Digest, DigestState
from newsletter.errors import InvalidInputError
from newsletter.localtime import local_instant
from newsletter.pipeline.steps import assemble_step
from newsletter.publications.models import Publication
from newsletter.schedules import claim, due, services
from newsletter.schedules.due import DueEdition, OneOff, Recurring
from newsletter.schedules.editions import schedule_once
from newsletter.schedules.models import EditionKind, EditionState, ScheduledEdition
from subscribers.models import Subscriber, Subscription, SubscriptionState
from tests.cli import run
from tests.unit.newsletter.schedules import seed
from tests.unit.newsletter.schedules.seed import ALL_DAYS

WINDOW = timedelta(hours=3)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
DAILY, WEEKLY = Cadence.DAILY, Cadence.WEEKLY


def utc(*parts: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def plan(
    zone: str = "UTC",
    days: str = "mon-fri",
    weekly: str = "",
    *,
    local: bool = False,
    zones: tuple[str, ...] = (),
    at: time = time(7, 0),
) -> Recurring:
    """A schedule of publication 1 at ``at`` in ``zone`` (weekly days and reader zones)."""
    return Recurring(
        1,
        at,
        parsing.parse_weekdays(days, field="--days") if days else frozenset(),
        zone,
        EPOCH,
        weekly_days=parsing.parse_weekdays(weekly, field="--weekly") if weekly else frozenset(),
        local_delivery=local,
        zones=frozenset(zones),
    )


# --- due: plain values ---------------------------------------------------------------


def test_each_offered_weekday_gives_a_roundup_beside_the_daily_edition() -> None:
    """Monday 07:00 gives the daily edition and the weekly roundup, at the same instant;
    the other weekdays give the daily edition only."""
    found = list(due.occurrences(plan(weekly="mon"), utc(2026, 3, 8), utc(2026, 3, 14)))
    assert [(e.edition_date.day, e.cadence) for e in found] == [
        (9, DAILY),
        (9, WEEKLY),
        (10, DAILY),
        (11, DAILY),
        (12, DAILY),
        (13, DAILY),
    ]
    assert found[0].due_at == found[1].due_at == utc(2026, 3, 9, 7, 0)


def test_a_roundup_day_need_not_be_a_daily_day() -> None:
    """A Sunday roundup of a weekday publication is due on Sunday, alone."""
    found = due.next_occurrences(plan(weekly="sun"), utc(2026, 3, 7, 8), 2)
    assert [(e.edition_date, e.cadence) for e in found] == [
        (date(2026, 3, 8), WEEKLY),
        (date(2026, 3, 9), DAILY),
    ]
    only_weekly = due.next_occurrences(plan(days="", weekly="sun"), utc(2026, 3, 7, 8), 2)
    assert [e.edition_date for e in only_weekly] == [date(2026, 3, 8), date(2026, 3, 15)]


def test_taken_keys_carry_the_cadence() -> None:
    """A started daily edition does not take that date's roundup, and the other way round."""
    now = utc(2026, 3, 9, 7, 5)
    schedule = plan(weekly="mon")
    found = due.due_editions([schedule], [], {(1, date(2026, 3, 9), DAILY, "")}, now, window=WINDOW)
    assert [(e.edition_date, e.cadence) for e in found] == [(date(2026, 3, 9), WEEKLY)]
    found = due.due_editions(
        [schedule], [], {(1, date(2026, 3, 9), WEEKLY, "")}, now, window=WINDOW
    )
    assert [(e.edition_date, e.cadence) for e in found] == [(date(2026, 3, 9), DAILY)]


def test_a_one_off_roundup_replaces_only_the_recurring_roundup() -> None:
    """A one-off weekly edition for Monday leaves Monday's daily edition to the schedule."""
    one_off = OneOff(7, 1, date(2026, 3, 9), utc(2026, 3, 9, 6, 0), WEEKLY)
    taken = {(1, date(2026, 3, 9), WEEKLY, "")}  # the one-off's own row
    found = due.due_editions(
        [plan(weekly="mon")], [one_off], taken, utc(2026, 3, 9, 7, 1), window=WINDOW
    )
    assert found == [
        DueEdition(1, date(2026, 3, 9), utc(2026, 3, 9, 6, 0), False, 7, WEEKLY),
        DueEdition(1, date(2026, 3, 9), utc(2026, 3, 9, 7, 0), False, None, DAILY),
    ]


def test_local_delivery_is_due_at_the_earliest_readers_zone() -> None:
    """07:00 in each reader's zone: the edition is due (assembled) at Tokyo's 07:00, the
    day before in UTC; without local delivery the readers' zones do not count."""
    zones = ("Asia/Tokyo", "America/New_York")
    local = plan("Europe/London", local=True, zones=zones)
    assert local.due_at(date(2026, 3, 10)) == utc(2026, 3, 9, 22, 0)
    assert plan("Europe/London", zones=zones).due_at(date(2026, 3, 10)) == utc(2026, 3, 10, 7, 0)
    found = due.due_editions(
        [local], [], set(), utc(2026, 3, 9, 22, 1), window=WINDOW, lookback=timedelta(hours=1)
    )
    assert [(e.edition_date, e.due_at) for e in found] == [
        (date(2026, 3, 10), utc(2026, 3, 9, 22, 0))
    ]
    # A publication with no reader elsewhere is due at its own 07:00.
    alone = plan("Europe/London", local=True)
    assert alone.due_at(date(2026, 3, 10)) == utc(2026, 3, 10, 7, 0)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # London is the earliest of London and New York; its clocks go forward on 29 March.
        (date(2026, 3, 27), utc(2026, 3, 27, 7, 0)),
        (date(2026, 3, 30), utc(2026, 3, 30, 6, 0)),
        # New York's change (8 March) moves New York's instant, never the earliest.
        (date(2026, 3, 6), utc(2026, 3, 6, 7, 0)),
        (date(2026, 3, 9), utc(2026, 3, 9, 7, 0)),
    ],
)
def test_the_cut_off_follows_the_earliest_zone_across_daylight_saving(
    day: date, expected: datetime
) -> None:
    """The earliest zone's wall clock wins across its own DST change, and another zone's
    change does not move the cut-off."""
    schedule = plan("America/New_York", local=True, zones=("Europe/London",))
    assert schedule.due_at(day) == expected
    assert expected == min(
        local_instant(day, time(7, 0), "Europe/London"),
        local_instant(day, time(7, 0), "America/New_York"),
    )


def test_a_wall_time_missing_in_the_earliest_zone_runs_at_its_transition() -> None:
    """01:30 does not exist in London on 29 March: the cut-off is the transition (01:00 UTC),
    still earlier than 01:30 in New York."""
    schedule = plan("America/New_York", "daily", local=True, zones=("Europe/London",))
    schedule = Recurring(**{**schedule.__dict__, "send_time": time(1, 30)})
    assert schedule.due_at(date(2026, 3, 29)) == utc(2026, 3, 29, 1, 0)


def test_far_zones_are_found_a_day_early() -> None:
    """A reader at UTC+14 makes the edition due 14 hours before UTC's date begins; the
    occurrences search reaches it."""
    schedule = plan("Pacific/Pago_Pago", "daily", local=True, zones=("Pacific/Kiritimati",))
    found = list(due.occurrences(schedule, utc(2026, 3, 9, 16, 0), utc(2026, 3, 9, 18, 0)))
    assert [(e.edition_date, e.due_at) for e in found] == [
        (date(2026, 3, 10), utc(2026, 3, 9, 17, 0))
    ]


# --- services against the database --------------------------------------------------

MONDAY = date(2026, 3, 9)


def weekly_and_local(
    session: Session, *, local: bool = False, zones: tuple[str | None, ...] = ()
) -> Publication:
    """Publication 'morning' in London, weekdays plus a Monday roundup, readers in ``zones``."""
    publication = seed.publication(session, timezone="Europe/London", weekdays=["mon", "tue"])
    publication.weekly_days = ["mon"]
    publication.local_delivery = local
    emails = seed.readers(session, publication, len(zones))
    for email, zone in zip(emails, zones, strict=True):
        session.execute(update(Subscriber).where(Subscriber.email == email).values(timezone=zone))
    session.flush()
    return publication


def editions(database: Database) -> list[tuple[date, Cadence, datetime, EditionState]]:
    """Every scheduled edition as (date, cadence, due at, state), by id."""
    with database.session() as session:
        return [
            (e.edition_date, e.cadence, e.due_at, e.state)
            for e in session.scalars(select(ScheduledEdition).order_by(ScheduledEdition.id))
        ]


def test_tick_claims_the_daily_edition_and_the_roundup(any_database: Database) -> None:
    """Monday's tick starts two editions: the daily one and the weekly roundup; a second
    tick starts neither again."""
    with any_database.session() as session:
        weekly_and_local(session)
    now = utc(2026, 3, 9, 7, 1)
    with any_database.session() as session:
        first = claim.claim_due(session, now, window=WINDOW)
    with any_database.session() as session:
        again = claim.claim_due(session, now + timedelta(minutes=1), window=WINDOW)
    assert len(first.started) == 2
    assert again.started == again.missed == []
    assert editions(any_database) == [
        (MONDAY, DAILY, utc(2026, 3, 9, 7, 0), EditionState.STARTED),
        (MONDAY, WEEKLY, utc(2026, 3, 9, 7, 0), EditionState.STARTED),
    ]


def test_weekly_edition_assembles_the_roundup(database: Database) -> None:
    """The pipeline's assemble step assembles a weekly scheduled edition's roundup."""
    with database.session() as session:
        weekly_and_local(session)
        seed_briefings_this_week(session)
    with database.session() as session:
        claim.claim_due(session, utc(2026, 3, 9, 7, 1), window=WINDOW)
    with database.session() as session:
        weekly_id = session.scalar(
            select(ScheduledEdition.id).where(ScheduledEdition.cadence == WEEKLY)
        )
        assert weekly_id is not None
        digest_id = assemble_step(session, weekly_id, now=utc(2026, 3, 9, 7, 2), window=WINDOW)
        assert digest_id is not None
        digest = session.get_one(Digest, digest_id)
        assert (digest.cadence, digest.edition_date, digest.state) == (
            WEEKLY,
            MONDAY,
            DigestState.ASSEMBLED,
        )
        assert [item.content["slug"] for item in digest.items] == ["this-week"]


def seed_briefings_this_week(session: Session) -> None:
    """One briefing approved in the week before Monday's roundup."""
    from tests.factories import make_briefing

    make_briefing(session, slug="this-week", approved_at=utc(2026, 3, 6, 12, 0))


def test_local_delivery_is_claimed_at_the_earliest_readers_zone(any_database: Database) -> None:
    """Readers in Tokyo and New York (and one without a zone: London's): Tuesday's edition is
    due at 07:00 Tokyo, Monday 22:00 UTC, and claimed then, not at London's 07:00."""
    with any_database.session() as session:
        weekly_and_local(session, local=True, zones=("Asia/Tokyo", "America/New_York", None))
    with any_database.session() as session:
        early = claim.claim_due(session, utc(2026, 3, 9, 21, 59), window=WINDOW)
        assert early.started == []  # Monday's are past the window (missed); Tuesday's not due
    with any_database.session() as session:
        claim.claim_due(session, utc(2026, 3, 9, 22, 0), window=WINDOW)
    tuesday = [row for row in editions(any_database) if row[0] == date(2026, 3, 10)]
    assert tuesday == [(date(2026, 3, 10), DAILY, utc(2026, 3, 9, 22, 0), EditionState.STARTED)]


def test_readers_zones_are_read_only_when_needed(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tick reads readers' zones only for local-delivery publications with an edition
    still to claim near now: not for others, not once everything near is taken."""
    calls: list[list[int]] = []
    real = services.reader_zones

    def recording(session: Session, publication_ids: list[int]) -> dict[int, frozenset[str]]:
        calls.append(list(publication_ids))
        return real(session, publication_ids)

    monkeypatch.setattr(claim, "reader_zones", recording)
    with database.session() as session:
        local = weekly_and_local(session, local=True, zones=("Asia/Tokyo",))
        other = seed.publication(session, slug="evening", briefings=0)
        local_id, other_id = local.id, other.id
    # Monday 22:00 UTC is Tuesday 07:00 in Tokyo.
    with database.session() as session:
        claim.claim_due(session, utc(2026, 3, 9, 22, 0), window=WINDOW)
    assert calls
    assert all(ids == [local_id] for ids in calls)
    assert other_id not in calls[0]
    # Everything a day around is taken: claim the rest, then tick again.
    with database.session() as session:
        claim.claim_due(session, utc(2026, 3, 10, 7, 0), window=WINDOW)
    with database.session() as session:
        for day in (date(2026, 3, 11), date(2026, 3, 12)):
            for cadence in (DAILY,):
                session.add(
                    ScheduledEdition(
                        publication_id=local_id,
                        edition_date=day,
                        cadence=cadence,
                        due_at=utc(2026, 3, day.day, 7),
                        kind=EditionKind.RECURRING,
                        state=EditionState.CANCELLED,
                    )
                )
        publication = session.get_one(Publication, local_id)
        publication.weekdays = ["mon", "tue", "wed", "thu"]
    calls.clear()
    with database.session() as session:
        claim.claim_due(session, utc(2026, 3, 10, 7, 5), window=WINDOW)
    assert calls == []


def test_zones_of_unconfirmed_readers_do_not_count(database: Database) -> None:
    """Only confirmed readers' zones make the cut-off earlier."""
    with database.session() as session:
        publication = weekly_and_local(session, local=True, zones=("Asia/Tokyo", "Europe/Paris"))
        session.execute(
            update(Subscription)
            .where(
                Subscription.subscriber_id
                == select(Subscriber.id)
                .where(Subscriber.timezone == "Asia/Tokyo")
                .scalar_subquery()
            )
            .values(state=SubscriptionState.UNSUBSCRIBED)
        )
        zones = services.reader_zones(session, [publication.id])
        assert zones == {publication.id: frozenset({"Europe/Paris"})}
        schedule = services.publication_schedule(session, publication)
        assert schedule.due_at(date(2026, 3, 10)) == utc(2026, 3, 10, 6, 0)


def test_zones_of_readers_who_left_the_digest_do_not_count(database: Database) -> None:
    """A reader who takes alerts only does not make the digest's cut-off earlier."""
    with database.session() as session:
        publication = weekly_and_local(session, local=True, zones=("Asia/Tokyo", "Europe/Paris"))
        session.execute(
            update(Subscription)
            .where(
                Subscription.subscriber_id
                == select(Subscriber.id)
                .where(Subscriber.timezone == "Asia/Tokyo")
                .scalar_subquery()
            )
            .values(digests=False, alerts=True)
        )
        zones = services.reader_zones(session, [publication.id])
        assert zones == {publication.id: frozenset({"Europe/Paris"})}


def test_one_off_roundup_only_on_an_offered_day(database: Database) -> None:
    """A one-off weekly roundup on a day the publication offers none is refused, naming the
    option and the days offered, and nothing is scheduled; on Monday it is scheduled, and
    that date's daily edition can still be scheduled too."""
    with database.session() as session:
        weekly_and_local(session)
    wall = datetime(2099, 3, 10, 9, 0)  # noqa: DTZ001 - a wall-clock time (a Tuesday)
    with database.session() as session, pytest.raises(InvalidInputError) as refused:
        schedule_once(session, "morning", wall, cadence=WEEKLY)
    assert "--cadence weekly" in str(refused.value)
    assert "tue" in str(refused.value)
    assert "weekly days: mon" in str(refused.value)
    assert editions(database) == []
    monday = datetime(2099, 3, 9, 9, 0)  # noqa: DTZ001
    with database.session() as session:
        weekly = schedule_once(session, "morning", monday, cadence=WEEKLY)
        daily = schedule_once(session, "morning", monday)
        assert (weekly.cadence, daily.cadence) == (WEEKLY, DAILY)
        with pytest.raises(InvalidInputError, match="already scheduled"):
            schedule_once(session, "morning", monday, cadence=WEEKLY)


def test_schedule_list_and_once_on_the_command_line(
    cli_env: dict[str, str], database: Database
) -> None:
    """schedule list shows weekly days, local delivery, readers' zones and each upcoming
    edition's cadence; schedule once --cadence weekly schedules a roundup."""
    with database.session() as session:
        pub = weekly_and_local(session, local=True, zones=("Asia/Tokyo",))
        pub.created_at = datetime.now(UTC) - timedelta(minutes=1)
        pub.weekdays = []
    result = run(cli_env, "schedule", "list", "--json")
    assert result.exit_code == 0, result.output
    listed: dict[str, Any] = json.loads(result.stdout)["schedules"][0]
    assert listed["weekly_days"] == ["mon"]
    assert listed["local_delivery"] is True
    assert listed["reader_zones"] == ["Asia/Tokyo", "Europe/London"]
    assert {e["cadence"] for e in listed["upcoming"]} == {"weekly"}
    assert all(text.endswith("(weekly)") for text in listed["next"])
    for upcoming in listed["upcoming"]:
        day = date.fromisoformat(upcoming["edition_date"])
        expected = local_instant(day, time(7, 0), "Asia/Tokyo")
        assert datetime.fromisoformat(upcoming["due_utc"]) == expected
    table = run(cli_env, "schedule", "list")
    assert "weekly:" in table.output
    once = run(
        cli_env,
        "schedule",
        "once",
        "--publication",
        "morning",
        "--at",
        "2099-03-09 09:00",
        "--cadence",
        "weekly",
    )
    assert once.exit_code == 0, once.output
    assert "Scheduled weekly roundup" in once.output
    rows = json.loads(run(cli_env, "schedule", "list", "--json").stdout)["editions"]
    assert [(r["edition_date"], r["cadence"]) for r in rows] == [("2099-03-09", "weekly")]
    bad = run(
        cli_env,
        "schedule",
        "once",
        "--publication",
        "morning",
        "--at",
        "2099-03-10 09:00",
        "--cadence",
        "weekly",
    )
    assert bad.exit_code == 2
    assert "--cadence weekly" in bad.output


@pytest.mark.parametrize(
    ("day", "claimed_at"),
    [
        (date(2026, 3, 27), utc(2026, 3, 27, 7, 0)),  # London on GMT
        (date(2026, 3, 30), utc(2026, 3, 30, 6, 0)),  # London on BST since 29 March
    ],
)
def test_claims_follow_the_earliest_zone_across_its_dst_change(
    database: Database, day: date, claimed_at: datetime
) -> None:
    """A New York publication with a London reader: each edition is claimed at 07:00 London
    on that day, an hour earlier in UTC once London's clocks went forward, not a minute
    before."""
    with database.session() as session:
        publication = seed.publication(session, timezone="America/New_York", weekdays=ALL_DAYS)
        publication.local_delivery = True
        (email,) = seed.readers(session, publication, 1)
        session.execute(
            update(Subscriber).where(Subscriber.email == email).values(timezone="Europe/London")
        )
    lookback = timedelta(hours=1)
    with database.session() as session:
        before = claim.claim_due(
            session, claimed_at - timedelta(minutes=1), window=WINDOW, lookback=lookback
        )
        assert before.started == []
    with database.session() as session:
        claim.claim_due(session, claimed_at, window=WINDOW, lookback=lookback)
    assert editions(database) == [(day, DAILY, claimed_at, EditionState.STARTED)]
