"""The one set of input rules: times of day, local date-times, weekdays, zones, slugs."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from newsletter import parsing
from newsletter.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("07:00", time(7, 0)),
        (" 18:30 ", time(18, 30)),
        ("00:00", time(0, 0)),
        ("23:59", time(23, 59)),
        ("07:05:00", time(7, 5)),  # what a browser's time input may send
    ],
)
def test_times_of_day(text: str, expected: time) -> None:
    """HH:MM on the 24-hour clock, with an optional ':00'."""
    assert parsing.read_time(text) == expected
    assert parsing.parse_time(text, field="send_time") == expected


@pytest.mark.parametrize("text", ["7am", "7:00", "24:00", "12:60", "07:00:30", "", "07:"])
def test_not_times_of_day(text: str) -> None:
    """Anything else is refused, with the field named; seconds other than 00 too."""
    assert parsing.read_time(text) is None
    with pytest.raises(InvalidInputError, match=r"^--time: .* is not a time of day"):
        parsing.parse_time(text, field="--time")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A local date-time has no zone: the caller places it in the publication's.
        ("2030-01-31 07:00", datetime(2030, 1, 31, 7, 0)),  # noqa: DTZ001 - naive on purpose
        ("2030-01-31T07:00", datetime(2030, 1, 31, 7, 0)),  # noqa: DTZ001 - naive on purpose
        (" 2030-01-31T07:00:00 ", datetime(2030, 1, 31, 7, 0)),  # noqa: DTZ001 - naive on purpose
    ],
)
def test_local_date_times(text: str, expected: datetime) -> None:
    """A naive local date and time, with a space or a T, optional ':00'."""
    assert parsing.read_local(text) == expected
    assert parsing.parse_local(text, field="at") == expected


@pytest.mark.parametrize(
    "text", ["tomorrow", "2030-02-30 07:00", "2030-13-01 07:00", "2030-01-31 24:00", "2030-01-31"]
)
def test_not_local_date_times(text: str) -> None:
    """Dates that do not exist and incomplete values are refused, naming the field."""
    assert parsing.read_local(text) is None
    with pytest.raises(InvalidInputError, match=r"^--at: .* is not a local date and time"):
        parsing.parse_local(text, field="--at")


def test_day_lists() -> None:
    """Day names in any case; blanks ignored; unknown names and no day refused by field."""
    assert parsing.parse_days(["Mon", " fri ", ""], field="weekdays") == {"mon", "fri"}
    assert parsing.read_days(["mon", "funday", "Xday"]) == (
        frozenset({"mon", "funday", "xday"}),
        ["funday", "xday"],
    )
    with pytest.raises(InvalidInputError, match=r"^weekdays: unknown day 'funday'"):
        parsing.parse_days(["mon", "funday"], field="weekdays")
    with pytest.raises(InvalidInputError, match=r"^weekdays: choose at least one day"):
        parsing.parse_days([" "], field="weekdays")


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", {"mon", "tue", "wed", "thu", "fri"}),
        ("sat-mon", {"sat", "sun", "mon"}),
        ("mon,wed, fri", {"mon", "wed", "fri"}),
        ("daily", set(parsing.WEEKDAYS)),
        ("SUN", {"sun"}),
    ],
)
def test_parse_weekdays(text: str, days: set[str]) -> None:
    """Day lists accept ranges (wrapping over the week end), lists and 'daily'."""
    assert parsing.parse_weekdays(text, field="--days") == frozenset(days)


@pytest.mark.parametrize("text", ["", "mon-xyz", "weekdays", "mon,,fri"])
def test_parse_weekdays_refuses_nonsense(text: str) -> None:
    """Anything but day names is refused with the option named."""
    with pytest.raises(InvalidInputError, match="--days"):
        parsing.parse_weekdays(text, field="--days")


def test_unknown_time_zone_is_refused_by_name() -> None:
    """A time zone name that does not exist is an input error naming it."""
    with pytest.raises(InvalidInputError, match=r"^timezone: unknown time zone 'Mars/Olympus'"):
        parsing.zone("Mars/Olympus")
    assert parsing.read_zone("") is None
    assert parsing.read_zone("../etc/passwd") is None


def test_zones() -> None:
    """An existing IANA name gives its zone; check_zone strips and names its field."""
    assert str(parsing.zone("Europe/London")) == "Europe/London"
    assert parsing.check_zone(" Europe/London ", field="timezone") == "Europe/London"
    with pytest.raises(InvalidInputError, match=r"^--timezone: unknown time zone ' Mars/X'"):
        parsing.check_zone(" Mars/X", field="--timezone")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("morning", True),
        ("the-morning-2", True),
        ("a", True),
        ("Morning", False),
        ("-morning", False),
        ("morning-", False),
        ("the--morning", False),
        ("the morning", False),
        ("", False),
        ("x" * 65, False),
        ("2", False),  # all digits: an id, never a slug (issue 17 B5)
        ("2024", False),
        ("2024-budget", True),
        ("2024-05", True),
        ("g7", True),
    ],
)
def test_slugs(text: str, ok: bool) -> None:
    """Lower-case words of letters and digits joined by single hyphens, within a length."""
    assert parsing.is_slug(text, max_length=64) is ok


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1", 1),
        (" 42 ", 42),
        (str(parsing.MAX_ID), parsing.MAX_ID),
        ("0", None),
        (str(parsing.MAX_ID + 1), None),
        ("9" * 40, None),
        ("-1", None),
        ("²", None),
        ("a1", None),
    ],
)
def test_ids(text: str, number: int | None) -> None:
    """ASCII digits from 1 to MAX_ID are an id; anything else is not (never an overflow)."""
    assert parsing.read_id(text) == number
