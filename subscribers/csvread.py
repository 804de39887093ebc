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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import IO, NamedTuple

from newsletter.errors import InvalidInputError
from newsletter.files import open_input
from newsletter.textrules import csv_uncell
from subscribers.addresses import normalise_email
from subscribers.choices import Reading, clean_reading
from subscribers.profile import (
    clean_alert_topics,
    clean_locale,
    clean_name,
    clean_topics,
    clean_zone,
    topic_keys,
)

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
MEMO_SIZE = 4096  # combinations of the columns other than email and name kept per file


@dataclass(frozen=True)
class RowProblem:
    """Why one row was not imported."""

    row: int
    email: str
    reason: str


class CsvRow(NamedTuple):
    """One readable row: its line number and its checked values.

    A named tuple, not a dataclass: an import makes one per row, and a frozen
    dataclass took about as long to build as the row took to check.
    """

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


class _Choices(NamedTuple):
    """A row's checked values apart from its address and name (see ``CsvRows._choices``)."""

    locale: str
    timezone: str | None
    topics: tuple[str, ...]
    reading: Reading
    digests: bool
    alerts: bool
    alert_topics: tuple[str, ...]


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


def _cells_of(positions: list[int]) -> Callable[[list[str]], tuple[str, ...]]:
    """A function that picks the cells at ``positions`` of a record, as a tuple."""
    if len(positions) > 1:
        return itemgetter(*positions)
    return lambda record: tuple(record[at] for at in positions)


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
        self._width = len(self.header)
        self._email_at = self._index["email"]
        self._name_at = self._index.get("name")
        self._others = tuple(name for name in self.header if name not in ("email", "name"))
        self._cells = _cells_of([self._index[name] for name in self._others])
        self._memo: dict[tuple[str, ...], _Choices | str] = {}
        self.memo_size = MEMO_SIZE

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
                if not "".join(record).strip():  # a blank row (only spaces, or no cells)
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
        """One row checked: the address, then the name, then the other columns.

        The other columns (locale, time zone, topics, cadence, kinds of mail) take few
        distinct values in a file, so their outcome, a refusal included, is kept by
        their cells (up to ``memo_size`` combinations): a row pays for its address and
        name, and a look-up. The first problem found is the one reported, in the order
        of ``_choices``.
        """
        at = self._email_at
        raw_email = csv_uncell(record[at]).strip() if len(record) > at else ""
        if len(record) != self._width:
            return RowProblem(
                number, raw_email, f"columns: expected {self._width} fields, found {len(record)}"
            )
        try:
            email = normalise_email(raw_email, where="invalid address")
            name = "" if self._name_at is None else clean_name(csv_uncell(record[self._name_at]))
        except InvalidInputError as exc:
            return RowProblem(number, raw_email, str(exc))
        cells = self._cells(record)
        choices = self._memo.get(cells)
        if choices is None:
            choices = self._choices(cells)
            if len(self._memo) < self.memo_size:
                self._memo[cells] = choices
        if isinstance(choices, str):
            return RowProblem(number, raw_email, choices)
        return CsvRow(
            number,
            email,
            name,
            choices.locale,
            choices.timezone,
            list(choices.topics),
            choices.reading,
            choices.digests,
            choices.alerts,
            choices.alert_topics,
        )

    def _choices(self, cells: tuple[str, ...]) -> _Choices | str:
        """The other columns' values checked (``cells`` in ``self._others`` order), or why not."""
        values = dict(zip(self._others, map(csv_uncell, cells), strict=True))
        try:
            locale = clean_locale(values.get("locale", ""))
            timezone = clean_zone(values.get("timezone", ""))
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
            return str(exc)
        return _Choices(
            locale, timezone, tuple(topics), reading, digests, alerts, tuple(alert_topics)
        )
