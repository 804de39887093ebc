"""Reading a subscriber CSV: its text, its header, and each row checked.

Columns: ``email`` (required), ``name``, ``topics`` (separated by ``;``),
``timezone`` (blank: the publication's zone), ``locale``, ``cadence`` (``daily``, the
default, or ``weekly``) and ``weekly_day`` (``mon`` ... ``sun``, a day the publication
offers a roundup on), in any order; the header is row 1. Topics must be the
publication's (``choices.offered_topics``). A wrong header or a file
that is not UTF-8 is refused as a whole before any row is read; a bad row is reported
by its row number and the rest are read on. Nothing here touches the database:
``csvio`` imports the rows this returns.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from newsletter.errors import InvalidInputError
from subscribers.addresses import normalise_email
from subscribers.choices import Reading, clean_reading
from subscribers.profile import clean_profile, clean_topics

COLUMNS = ("email", "name", "topics", "timezone", "locale", "cadence", "weekly_day")
TOPIC_SEPARATOR = ";"


@dataclass(frozen=True)
class RowProblem:
    """Why one row was not imported."""

    row: int
    email: str
    reason: str


@dataclass(frozen=True)
class CsvRow:
    """One readable row: its line number and its checked values."""

    number: int
    email: str
    name: str
    locale: str
    timezone: str | None  # None: the publication's zone
    topics: list[str]
    reading: Reading


def read_text(path: Path) -> str:
    """The file's text, or one ``InvalidInputError`` naming the file and the bad line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{path}: line {line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None


def _header(path: Path, reader: Iterator[list[str]]) -> list[str]:
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise InvalidInputError(f"{path}: the file is empty; expected a header row") from None
    unknown = [name for name in header if name not in COLUMNS]
    if "email" not in header or unknown or len(set(header)) != len(header):
        found = ",".join(header)[:120]
        raise InvalidInputError(
            f"{path}: line 1: header must name columns from {','.join(COLUMNS)} "
            f"(email required, each once); found {found!r}"
        )
    return header


def parse_csv(
    path: Path, text: str, allowed_topics: Sequence[str], weekly_days: Sequence[str] = ()
) -> tuple[list[CsvRow], list[RowProblem], int]:
    """The good rows, the refused ones, and how many non-blank rows there were.

    ``allowed_topics`` and ``weekly_days`` are what the publication offers; a row's
    problem names its column (``weekly_day: ...``).

    A wrong header or malformed CSV raises ``InvalidInputError`` for the whole file.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _header(path, reader)
    index = {name: header.index(name) for name in header}
    rows: list[CsvRow] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    count = 0
    number = 1
    try:
        for record in reader:
            number = reader.line_num
            if not any(value.strip() for value in record):
                continue
            count += 1
            raw_email = record[index["email"]].strip() if len(record) > index["email"] else ""
            if len(record) != len(header):
                problems.append(
                    RowProblem(
                        number,
                        raw_email,
                        f"columns: expected {len(header)} fields, found {len(record)}",
                    )
                )
                continue
            try:
                email = normalise_email(raw_email, where="invalid address")
                values = {name: record[i] for name, i in index.items()}
                profile = clean_profile(
                    values.get("name", ""), values.get("locale", ""), values.get("timezone", "")
                )
                topics = clean_topics(
                    values.get("topics", "").split(TOPIC_SEPARATOR), allowed_topics
                )
                reading = clean_reading(
                    values.get("cadence", ""), values.get("weekly_day", ""), weekly_days
                )
            except InvalidInputError as exc:
                problems.append(RowProblem(number, raw_email, str(exc)))
                continue
            if email in seen:
                problems.append(
                    RowProblem(number, email, f"duplicate: same address as row {seen[email]}")
                )
                continue
            seen[email] = number
            rows.append(
                CsvRow(
                    number, email, profile.name, profile.locale, profile.timezone, topics, reading
                )
            )
    except csv.Error as exc:
        raise InvalidInputError(f"{path}: line {number + 1}: malformed CSV ({exc})") from None
    return rows, problems, count
