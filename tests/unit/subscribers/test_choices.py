"""Readers' choices: zone (or the publication's), cadence and weekly day, offered topics."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.content.edition import Cadence
from newsletter.db import Database
from newsletter.errors import InvalidInputError
from newsletter.publications.models import Publication
from newsletter.publications.topics import assign_topic_slugs
from subscribers import csvio, personal_data, services
from subscribers.choices import (
    Reading,
    check_weekly_days,
    clean_reading,
    offered_topics,
    read_weekday,
    reader_zones,
    stranded_weekly_readers,
    zone_options,
)
from subscribers.models import Subscriber, Subscription, SubscriptionState
from subscribers.preferences import ChoiceError, ListChoice, Preferences, update_preferences
from subscribers.profile import clean_profile, clean_topics, clean_zone
from tests.unit.subscribers.factories import seed, signup, web_evidence

ROUNDUP_DAYS = ["wed", "sun"]


def test_a_blank_zone_is_the_publications() -> None:
    """Blank: None (each publication's own zone); a real zone is kept; others are refused."""
    assert clean_profile().timezone is None
    assert clean_profile(timezone="  ").timezone is None
    assert clean_zone("Asia/Tokyo") == "Asia/Tokyo"
    with pytest.raises(InvalidInputError, match=r"^timezone: 'Mars/Olympus' is not an IANA"):
        clean_zone("Mars/Olympus")


def test_zone_list_is_people_facing_but_keeps_the_current_zone() -> None:
    """The select lists regions and UTC, not legacy aliases; an unlisted current zone stays."""
    zones = reader_zones()
    assert {"Asia/Tokyo", "Europe/London", "America/New_York", "UTC"} <= set(zones)
    assert "US/Eastern" not in zones
    assert "Etc/GMT+5" not in zones
    assert list(zones) == sorted(zones)
    assert zone_options("US/Eastern")[0] == "US/Eastern"
    assert zone_options("Asia/Tokyo") == list(zones)


@pytest.mark.parametrize(
    ("cadence", "day", "expected"),
    [
        ("", "", Reading()),
        ("daily", "", Reading()),
        ("WEEKLY", "sun", Reading(Cadence.WEEKLY, "sun")),
        ("weekly", "Wednesday", Reading(Cadence.WEEKLY, "wed")),
    ],
)
def test_reading_rules(cadence: str, day: str, expected: Reading) -> None:
    """Daily by default; weekly on a day in any case or spelled out."""
    assert clean_reading(cadence, day, ["wed", "sun"]) == expected


@pytest.mark.parametrize(
    ("cadence", "day", "offered", "expected"),
    [
        ("monthly", "", ["sun"], "cadence: 'monthly' is not daily or weekly"),
        ("weekly", "sun", [], "cadence: this publication offers no weekly roundup"),
        ("weekly", "", ["wed", "sun"], "weekly_day: choose the day of your roundup (wed, sun)"),
        ("weekly", "mon", ["wed", "sun"], "weekly_day: mon is not a day this publication"),
        ("weekly", "someday", ["sun"], "weekly_day: 'someday' is not a day"),
        ("daily", "sun", ["sun"], "weekly_day: 'sun' is only for the weekly cadence"),
    ],
)
def test_reading_refusals_name_the_field(
    cadence: str, day: str, offered: list[str], expected: str
) -> None:
    """Every refusal starts with the field at fault."""
    with pytest.raises(InvalidInputError) as caught:
        clean_reading(cadence, day, offered)
    assert str(caught.value).startswith(expected)


def test_one_offered_day_needs_no_choice() -> None:
    """With a single roundup day, weekly without a day means that day."""
    assert clean_reading("weekly", "", ["sun"]) == Reading(Cadence.WEEKLY, "sun")
    assert read_weekday(" SAT ") == "sat"
    assert read_weekday("Sat.") is None


def test_offered_topics_are_the_list_or_the_registered_ones(database: Database) -> None:
    """A scoped publication offers its list; an unscoped one the topics its editions carried."""
    seed(database)
    seed(database, "open", topics=[])
    with database.session() as session:
        daily = session.scalars(select(Publication).where(Publication.slug == "daily")).one()
        open_ = session.scalars(select(Publication).where(Publication.slug == "open")).one()
        assert offered_topics(session, daily) == ["Politics", "Science", "Sport"]
        assert offered_topics(session, open_) == []
        with pytest.raises(InvalidInputError, match="has no topics to choose from yet"):
            clean_topics(["Sport"], offered_topics(session, open_))
        assign_topic_slugs(session, open_, ["zoology", "Climate"])
        assert offered_topics(session, open_) == ["Climate", "zoology"]
        assert clean_topics(["climate", " Zoology "], offered_topics(session, open_)) == [
            "Climate",
            "zoology",
        ]


def test_sign_up_stores_zone_cadence_and_day(database: Database) -> None:
    """A sign-up keeps a blank zone as None and the weekly reading it was given."""
    seed(database, weekly_days=ROUNDUP_DAYS)
    with database.session() as session:
        result = signup(session, cadence="weekly", weekly_day="sun", topics=("science",))
        assert result.subscription is not None
        assert (result.subscription.cadence, result.subscription.weekly_day) == (
            Cadence.WEEKLY,
            "sun",
        )
        assert result.subscription.topics == ["Science"]
        assert result.subscription.subscriber.timezone is None
        other = signup(session, "bob@example.org", timezone="Asia/Tokyo").subscription
        assert other is not None
        assert other.cadence is Cadence.DAILY
        assert other.weekly_day is None
        assert other.subscriber.timezone == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cadence": "weekly", "weekly_day": "mon"}, "weekly_day: mon is not a day"),
        ({"cadence": "hourly"}, "cadence:"),
        ({"timezone": "Europe/Atlantis"}, "timezone:"),
        ({"topics": ("Cooking",)}, "topics: 'Cooking' is not a topic"),
    ],
)
def test_bad_choices_at_sign_up_change_nothing(
    database: Database, fields: dict[str, object], message: str
) -> None:
    """A refused choice names its field and writes no row."""
    seed(database, weekly_days=ROUNDUP_DAYS)
    with pytest.raises(InvalidInputError, match=message), database.session() as session:
        signup(session, **fields)  # type: ignore[arg-type]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_a_second_pending_sign_up_updates_the_reading(database: Database) -> None:
    """Signing up again while pending takes the new cadence, like the new topics."""
    seed(database, weekly_days=ROUNDUP_DAYS)
    with database.session() as session:
        signup(session)
    with database.session() as session:
        subscription = signup(session, cadence="weekly", weekly_day="wed").subscription
        assert subscription is not None
        assert (subscription.cadence, subscription.weekly_day) == (Cadence.WEEKLY, "wed")


def _confirmed(database: Database) -> tuple[int, int]:
    with database.session() as session:
        result = signup(session)
        assert result.subscription is not None
        subscription = result.subscription
        subscription.state = SubscriptionState.CONFIRMED
        return subscription.subscriber_id, subscription.list_id


def test_preferences_change_zone_cadence_and_topics(database: Database) -> None:
    """The preferences set a zone, then the publication's again; weekly, then daily."""
    list_id = seed(database, weekly_days=ROUNDUP_DAYS)
    subscriber_id, _ = _confirmed(database)
    weekly = ListChoice(list_id, True, ("Sport",), cadence="weekly", weekly_day="sun")
    with database.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        preferences = Preferences((weekly,), timezone="America/New_York")
        update_preferences(session, subscriber, 1, preferences, web_evidence())
    with database.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        assert subscriber.timezone == "America/New_York"
        [subscription] = subscriber.subscriptions
        assert (subscription.cadence, subscription.weekly_day) == (Cadence.WEEKLY, "sun")
        assert subscription.topics == ["Sport"]
        # No cadence (a form that does not show it) and no zone keep both.
        update_preferences(
            session, subscriber, 1, Preferences((ListChoice(list_id, True),)), web_evidence()
        )
        assert subscription.cadence is Cadence.WEEKLY
        assert subscriber.timezone == "America/New_York"
        daily = ListChoice(list_id, True, cadence="daily")
        update_preferences(
            session, subscriber, 1, Preferences((daily,), timezone=""), web_evidence()
        )
        assert (subscription.cadence, subscription.weekly_day) == (Cadence.DAILY, None)
        assert subscriber.timezone is None


@pytest.mark.parametrize(
    ("preferences", "field", "message"),
    [
        ({"timezone": "Moon/Base"}, "timezone", "timezone: 'Moon/Base'"),
        ({"cadence": "weekly", "weekly_day": "mon"}, "weekly_day", "weekly_day: mon is not"),
        ({"topics": ("Gardening",)}, "topics", "topics: 'Gardening' is not a topic"),
    ],
)
def test_refused_preferences_name_the_field_and_change_nothing(
    database: Database, preferences: dict[str, object], field: str, message: str
) -> None:
    """A bad zone, day or topic raises a ChoiceError placing it; nothing was changed."""
    list_id = seed(database, weekly_days=ROUNDUP_DAYS)
    subscriber_id, _ = _confirmed(database)
    zone = str(preferences.pop("timezone", "Asia/Tokyo"))
    choice = ListChoice(list_id, True, **preferences)  # type: ignore[arg-type]
    with database.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        with pytest.raises(ChoiceError) as caught:
            update_preferences(
                session, subscriber, 1, Preferences((choice,), timezone=zone), web_evidence()
            )
        # Checked before anything changed: even this open transaction holds no change.
        assert subscriber.timezone is None
        assert subscriber.subscriptions[0].topics == []
    assert caught.value.field == field
    assert str(caught.value).startswith(message)
    assert caught.value.list_id == (None if field == "timezone" else list_id)
    with database.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        assert subscriber.timezone is None
        assert subscriber.subscriptions[0].cadence is Cadence.DAILY


def test_stranded_weekly_readers_are_counted(database: Database) -> None:
    """Weekly readers whose day is no longer offered are found; the check refuses it."""
    seed(database, weekly_days=ROUNDUP_DAYS)
    with database.session() as session:
        signup(session, cadence="weekly", weekly_day="sun")
        signup(session, "bob@example.org", cadence="weekly", weekly_day="wed")
        signup(session, "cy@example.org")
        publication = session.scalars(select(Publication)).one()
        assert stranded_weekly_readers(session, publication) == {}
        publication.weekly_days = ["wed"]
        session.flush()
        assert stranded_weekly_readers(session, publication) == {"sun": 1}
        with pytest.raises(InvalidInputError, match=r"^Days: 1 weekly reader\(s\).*1 on sun"):
            check_weekly_days(session, publication, label="Days")


CSV = """email,topics,timezone,cadence,weekly_day
ann@example.org,Science,,weekly,Sunday
bob@example.org,,Asia/Tokyo,,
cy@example.org,,,weekly,mon
di@example.org,,,fortnightly,
ed@example.org,,,daily,wed
fay@example.org,,,weekly,
"""


def test_csv_import_reads_cadence_and_reports_bad_rows_by_column(
    database: Database, tmp_path: Path
) -> None:
    """Good rows carry their reading; bad ones are listed by row number and column."""
    seed(database, weekly_days=ROUNDUP_DAYS)
    path = tmp_path / "people.csv"
    path.write_text(CSV, encoding="utf-8")
    with database.session() as session:
        report = csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
    assert report.imported == 2
    assert [(p.row, p.reason.split(":")[0]) for p in report.problems] == [
        (4, "weekly_day"),
        (5, "cadence"),
        (6, "weekly_day"),
        (7, "weekly_day"),
    ]
    with database.session() as session:
        rows = session.execute(
            select(
                Subscriber.email, Subscriber.timezone, Subscription.cadence, Subscription.weekly_day
            )
            .join(Subscription)
            .order_by(Subscriber.email)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("ann@example.org", None, Cadence.WEEKLY, "sun"),
        ("bob@example.org", "Asia/Tokyo", Cadence.DAILY, None),
    ]
    out = io.StringIO()
    with database.session() as session:
        csvio.export_csv(session, "daily", out)
    assert out.getvalue().splitlines() == [
        "email,name,topics,timezone,locale,cadence,weekly_day,digests,alerts,alert_topics",
        "ann@example.org,,Science,,,weekly,sun,yes,no,",
        "bob@example.org,,,Asia/Tokyo,,daily,,yes,no,",
    ]
    # What the export wrote imports again as it was.
    again = tmp_path / "again.csv"
    again.write_text(out.getvalue(), encoding="utf-8")
    with database.session() as session:
        dry = csvio.import_csv(session, again, list_slug="daily", dry_run=True)
    assert [p.reason for p in dry.problems] == [
        "already on the list (confirmed): left unchanged"
    ] * 2


def test_csv_without_weekly_days_refuses_weekly_rows(database: Database, tmp_path: Path) -> None:
    """A publication with no roundup refuses weekly rows, naming the cadence column."""
    seed(database)
    path = tmp_path / "people.csv"
    path.write_text("email,cadence,weekly_day\nann@example.org,weekly,sun\n", encoding="utf-8")
    with database.session() as session:
        report = csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
    assert report.imported == 0
    [problem] = report.problems
    assert (problem.row, problem.reason) == (
        2,
        "cadence: this publication offers no weekly roundup",
    )


def test_a_blank_zone_signs_up_through_the_service_as_none(database: Database) -> None:
    """services.sign_up with no timezone stores None, not UTC."""
    seed(database)
    with database.session() as session:
        signup(session)
        assert services.get_subscriber(session, "ann@example.org").timezone is None


def test_personal_data_export_carries_the_choices(database: Database) -> None:
    """An access request shows the zone (None: the publication's), cadence and day."""
    seed(database, weekly_days=ROUNDUP_DAYS)
    with database.session() as session:
        signup(session, cadence="weekly", weekly_day="wed")
        data = personal_data.export_data(session, "ann@example.org")
    assert data["subscriber"]["timezone"] is None
    [subscription] = data["subscriptions"]
    assert (subscription["cadence"], subscription["weekly_day"]) == ("weekly", "wed")
