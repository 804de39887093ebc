"""Reading a subscriber CSV: its text, its header, and each row checked.

Columns: ``email`` (required), ``name``, ``topics`` (separated by ``;``),
``timezone`` (blank: the publication's zone), ``locale``, ``cadence`` (``daily``, the
default, or ``weekly``) and ``weekly_day`` (``mon`` ... ``sun``, a day the publication
offers a roundup on), ``digests`` and ``alerts`` (the kinds of mail: ``yes`` or
``no``; blank: the digest yes, alerts no) and ``alert_topics`` (separated by ``;``,
blank: alerts on every topic), in any order; the header is row 1. Topics must be the
publication's (``choices.offered_topics``). A wrong header, a file that is not UTF-8
or one over the size limit is refused as a whole before any row is read; a bad row is
reported by its row number and the rest are read on.

The file is streamed: ``check_file`` reads it once in blocks (encoding and size), then
``CsvRows`` yields one checked row at a time, so memory does not grow with the file.
Addresses repeated in the file are found by ``csvio``, which sees what it has already
written. Nothing here touches the database.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from newsletter.errors import InvalidInputError
from newsletter.files import open_input
from newsletter.textrules import csv_uncell
from subscribers.addresses import normalise_email
from subscribers.choices import Reading, clean_reading
from subscribers.profile import clean_alert_topics, clean_profile, clean_topics, topic_keys

COLUMNS = (
    "email",
    "name",
    "topics",
    "timezone",
    "locale",
    "cadence",
    "weekly_day",
    "digests",
    "alerts",
    "alert_topics",
)
_YES = frozenset({"yes", "y", "true", "1"})
_NO = frozenset({"no", "n", "false", "0"})
TOPIC_SEPARATOR = ";"
BLOCK = 1024 * 1024


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
    digests: bool = True
    alerts: bool = False
    alert_topics: tuple[str, ...] = ()


def read_flag(value: str, field: str, default: bool) -> bool:
    """A yes/no cell (blank: ``default``), or ``InvalidInputError`` naming the column."""
    text = value.strip().lower()
    if not text:
        return default
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise InvalidInputError(f"{field}: {value.strip()[:20]!r} is not yes or no")


def _cannot_read(path: Path, exc: OSError) -> InvalidInputError:
    return InvalidInputError(f"{path}: cannot read ({exc.strerror})")


def check_file(path: Path, max_bytes: int) -> int:
    """The file's size once it is known to be UTF-8 text of at most ``max_bytes``.

    Read in blocks, never whole: a bad byte is reported by its line, a file over the
    limit (``NEWSLETTER_MAX_CSV_BYTES``) as soon as the limit is passed.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    size = 0
    lines = 1
    try:
        with open_input(path) as stream:
            while block := stream.read(BLOCK):
                size += len(block)
                if size > max_bytes:
                    raise InvalidInputError(
                        f"{path}: larger than {max_bytes:,} bytes "
                        "(NEWSLETTER_MAX_CSV_BYTES); split the file"
                    )
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    # The decoder may hold back up to 3 bytes of the block before.
                    line = lines + block[: max(exc.start, 0)].count(b"\n")
                    where = size - len(block) + exc.start
                    raise InvalidInputError(
                        f"{path}: line {line}: not UTF-8 text (byte {where}); "
                        "save the file as UTF-8"
                    ) from None
                lines += block.count(b"\n")
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise InvalidInputError(
                    f"{path}: line {lines}: not UTF-8 text (the file ends inside a character); "
                    "save the file as UTF-8"
                ) from None
    except OSError as exc:
        raise _cannot_read(path, exc) from None
    return size


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


class CsvRows:
    """The rows of a checked file (``check_file``), read one at a time.

    Opening reads the header (a wrong one is an ``InvalidInputError``); iterating yields
    each non-blank row as a ``CsvRow`` or, when refused, a ``RowProblem``. Malformed
    CSV, or more than ``max_rows`` rows (``NEWSLETTER_MAX_CSV_ROWS``), raises
    ``InvalidInputError`` for the whole file. ``count`` is the non-blank rows read so
    far and ``position`` the bytes read (for progress). Use as a context manager.
    """

    def __init__(
        self,
        path: Path,
        allowed_topics: Sequence[str],
        weekly_days: Sequence[str] = (),
        *,
        max_rows: int,
    ) -> None:
        self.path = path
        self.allowed_topics = topic_keys(allowed_topics)
        self.weekly_days = weekly_days
        self.max_rows = max_rows
        self.count = 0
        try:
            self._binary: IO[bytes] = open_input(path)
        except OSError as exc:
            raise _cannot_read(path, exc) from None
        self._text = io.TextIOWrapper(self._binary, encoding="utf-8-sig", newline="")
        self._reader = csv.reader(self._text, strict=True)
        try:
            self.header = _header(path, self._reader)
        except csv.Error as exc:
            self.close()
            raise InvalidInputError(f"{path}: line 1: malformed CSV ({exc})") from None
        except InvalidInputError:
            self.close()
            raise
        self._index = {name: self.header.index(name) for name in self.header}

    @property
    def position(self) -> int:
        """Bytes of the file read so far."""
        return self._binary.tell()

    def close(self) -> None:
        """Close the file."""
        self._text.close()

    def __enter__(self) -> CsvRows:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[CsvRow | RowProblem]:
        reader = self._reader
        number = 1
        try:
            for record in reader:
                number = reader.line_num
                if not any(value.strip() for value in record):
                    continue
                self.count += 1
                if self.count > self.max_rows:
                    raise InvalidInputError(
                        f"{self.path}: line {number}: more than {self.max_rows:,} rows "
                        "(NEWSLETTER_MAX_CSV_ROWS); split the file"
                    )
                yield self._row(number, record)
        except csv.Error as exc:
            raise InvalidInputError(
                f"{self.path}: line {number + 1}: malformed CSV ({exc})"
            ) from None

    def _row(self, number: int, record: list[str]) -> CsvRow | RowProblem:
        index = self._index
        raw_email = (
            csv_uncell(record[index["email"]]).strip() if len(record) > index["email"] else ""
        )
        if len(record) != len(self.header):
            return RowProblem(
                number,
                raw_email,
                f"columns: expected {len(self.header)} fields, found {len(record)}",
            )
        try:
            email = normalise_email(raw_email, where="invalid address")
            values = {name: csv_uncell(record[i]) for name, i in index.items()}
            profile = clean_profile(
                values.get("name", ""), values.get("locale", ""), values.get("timezone", "")
            )
            cell = values.get("topics", "")
            topics = (
                clean_topics(cell.split(TOPIC_SEPARATOR), self.allowed_topics)
                if cell.strip()
                else []
            )
            reading = clean_reading(
                values.get("cadence", ""), values.get("weekly_day", ""), self.weekly_days
            )
            digests = read_flag(values.get("digests", ""), "digests", True)
            alerts = read_flag(values.get("alerts", ""), "alerts", False)
            if not digests and not alerts:
                raise InvalidInputError("digests: a reader needs the digest, alerts or both")
            cell = values.get("alert_topics", "")
            alert_topics = (
                clean_alert_topics(cell.split(TOPIC_SEPARATOR), self.allowed_topics)
                if cell.strip()
                else []
            )
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
