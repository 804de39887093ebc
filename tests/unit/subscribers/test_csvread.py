"""Reading subscriber CSV rows: the quick path gives what the full check of each row gives."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.errors import InvalidInputError
from newsletter.textrules import csv_uncell
from subscribers import csvread
from subscribers.addresses import normalise_email
from subscribers.choices import clean_reading
from subscribers.csvread import COLUMNS, CsvRow, CsvRows, RowProblem, read_flag
from subscribers.profile import (
    clean_alert_topics,
    clean_profile,
    clean_topics,
    clean_zone,
    topic_keys,
)

TOPICS = ["Science", "Sport", "Local  News"]
DAYS = ["mon", "fri"]


def checked_in_full(header: list[str], number: int, record: list[str]) -> CsvRow | RowProblem:
    """The reference: every cell of the row checked by the shared rules, in the documented order
    (address, name, locale, time zone, topics, cadence and day, digests, alerts, alert topics)."""
    index = {name: header.index(name) for name in header}
    at = index["email"]
    raw_email = csv_uncell(record[at]).strip() if len(record) > at else ""
    if len(record) != len(header):
        return RowProblem(
            number, raw_email, f"columns: expected {len(header)} fields, found {len(record)}"
        )
    values = {name: csv_uncell(record[i]) for name, i in index.items()}
    offered = topic_keys(TOPICS)
    try:
        email = normalise_email(raw_email, where="invalid address")
        profile = clean_profile(
            values.get("name", ""), values.get("locale", ""), values.get("timezone", "")
        )
        cell = values.get("topics", "")
        topics = clean_topics(cell.split(";"), offered) if cell.strip() else []
        reading = clean_reading(values.get("cadence", ""), values.get("weekly_day", ""), DAYS)
        digests = read_flag(values.get("digests", ""), "digests", True)
        alerts = read_flag(values.get("alerts", ""), "alerts", False)
        if not digests and not alerts:
            raise InvalidInputError("digests: a reader needs the digest, alerts or both")
        cell = values.get("alert_topics", "")
        alert_topics = clean_alert_topics(cell.split(";"), offered) if cell.strip() else []
    except InvalidInputError as exc:
        return RowProblem(number, raw_email, str(exc))
    return CsvRow(
        number,
        email,
        profile.name,
        profile.locale,
        profile.timezone,
        topics,
        reading,
        digests,
        alerts,
        tuple(alert_topics),
    )


# Cells good and bad for each column, some behind the guarding apostrophe or spaces.
_PREFIX = st.sampled_from(["", "", "", "'", " ", "' "])
CELLS = {
    "email": st.one_of(
        st.sampled_from(
            [
                "ann@example.org",
                " Ann@Example.ORG ",
                "=1+3@example.com",
                "+cmd|'/ccalc'!a0@example.com",
                "ann@bücher.de",
                "josé@example.com",
                "a" * 65 + "@example.org",
                "not an address",
                "",
                "ann@",
                "@example.org",
                '"quoted local"@example.org',
                "ann@example..org",
            ]
        ),
        st.from_regex(r"[a-z0-9.+_-]{1,12}@[a-z0-9-]{1,8}\.(org|com|xn--p1ai)", fullmatch=True),
    ),
    "name": st.one_of(
        st.sampled_from(["", "Ann  Lee", "=HYPERLINK(1)", "x" * 201, "Bell\x07", "A\nB"]),
        st.text(max_size=8),
    ),
    "topics": st.sampled_from(
        ["", "science", "Science; sport", "local news", "Nope", ";;", " ", "Sport;Sport"]
    ),
    "timezone": st.sampled_from(["", "UTC", "Europe/London", "Mars/Base", " Asia/Tokyo "]),
    "locale": st.sampled_from(["", "en", "en_GB", "fr-CA", "english!", "x" * 17, " de "]),
    "cadence": st.sampled_from(["", "daily", "WEEKLY", "weekly", "monthly"]),
    "weekly_day": st.sampled_from(["", "mon", "Friday", "tue", "someday"]),
    "digests": st.sampled_from(["", "yes", "no", "N", "maybe"]),
    "alerts": st.sampled_from(["", "yes", "no", "1", "often"]),
    "alert_topics": st.sampled_from(["", "sport", "Nope", "science;SPORT"]),
}


@st.composite
def files(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """A header (email and some other columns, any order) and rows, some of the wrong width."""
    others = draw(st.lists(st.sampled_from(COLUMNS[1:]), unique=True))
    header = draw(st.permutations(["email", *others]))
    rows = []
    for _ in range(draw(st.integers(1, 25))):
        record = [draw(_PREFIX) + draw(CELLS[column]) for column in header]
        if draw(st.integers(0, 9)) == 0:
            record = record[: draw(st.integers(0, len(record)))] or ["x@example.org"] * 2
        rows.append(record)
    return header, rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file=files(), memo_size=st.sampled_from([0, 1, 3, csvread.MEMO_SIZE]))
def test_every_row_reads_as_the_full_check_reads_it(
    tmp_path_factory: pytest.TempPathFactory,
    file: tuple[list[str], list[list[str]]],
    memo_size: int,
) -> None:
    """Whatever the cells, each row comes out as the reference check makes it: the same
    values, or the same refusal (the first problem, by row number), whether the other
    columns' outcome was kept from an earlier row or not."""
    header, rows = file
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    path = tmp_path_factory.mktemp("csv") / "people.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    reader = csv.reader(io.StringIO(out.getvalue(), newline=""))
    next(reader)
    wanted = [
        checked_in_full(header, reader.line_num, record)
        for record in reader
        if "".join(record).strip()
    ]
    with CsvRows(path, TOPICS, DAYS, max_rows=1000) as read:
        read.memo_size = memo_size
        got = list(read)
    assert got == wanted


def test_the_other_columns_are_checked_once_per_combination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of many rows with the same few zones checks each zone once, a bad one too."""
    calls: list[str] = []
    real = clean_zone

    def counted(zone: str) -> str | None:
        calls.append(zone)
        return real(zone)

    monkeypatch.setattr("subscribers.csvread.clean_zone", counted)
    zones = ["UTC", "Europe/London", "Mars/Base"]
    lines = ["email,timezone", *(f"r{n}@example.org,{zones[n % 3]}" for n in range(300))]
    path = tmp_path / "people.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with CsvRows(path, TOPICS, DAYS, max_rows=1000) as read:
        got = list(read)
    assert sorted(calls) == sorted(zones)
    refused = [item for item in got if isinstance(item, RowProblem)]
    assert len(refused) == 100
    assert refused[0] == RowProblem(
        4, "r2@example.org", "timezone: 'Mars/Base' is not an IANA time zone (e.g. 'Europe/London')"
    )
    assert {item.timezone for item in got if isinstance(item, CsvRow)} == {"UTC", "Europe/London"}
