"""CSV import and export of a list's subscribers.

Import policy: good rows are imported and bad rows are reported by row number (the
header is row 1), in one transaction; nothing is half-written, and confirmation emails
leave only once that transaction commits. ``dry_run`` checks every row the same way,
writing inside a savepoint it then rolls back. A wrong header, a file that is not
UTF-8 or one over ``Limits.csv_bytes`` is refused as a whole before any row is read;
more rows than ``Limits.csv_rows`` refuse the whole file too (nothing is kept). An
address already on the list is left as it is, except that a ``confirmed`` import
(recorded prior consent) confirms a pending sign-up.

The import streams: the file is read (``csvread``) and written in chunks of ``CHUNK``
rows, each chunk checked against the database (suppressions, existing subscribers,
this list's subscriptions) and written: on SQLite with a few ``IN`` queries and
``executemany`` (``csvwrite``), on PostgreSQL set-based from a temporary table the
chunk is copied into (``csvstage``); what the database has on the rows is decided on
the same way for both (``_decide``). Memory stays flat in the file's
size: an address repeated in the file is found because its first row is already
written (its row number is kept in a compact array by subscription id), and only the
first ``PROBLEMS_KEPT`` refused rows are kept in full (every one is counted). The
export writes the same format.
"""

from __future__ import annotations

import csv
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.errors import InvalidInputError, UserError
from newsletter.limits import DEFAULT_LIMITS, Limits
from newsletter.textrules import csv_cell
from subscribers.choices import offered_days, offered_topics
from subscribers.csvread import COLUMNS, TOPIC_SEPARATOR, CsvRow, CsvRows, RowProblem, check_file
from subscribers.csvstage import Stage
from subscribers.csvwrite import (
    CHUNK,
    Known,
    confirm_pending,
    insert_subscribers,
    insert_subscriptions,
    look_up,
    on_postgresql,
)
from subscribers.models import (
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionState,
)
from subscribers.services import Confirmer, get_list, send_confirmations

PROBLEMS_KEPT = 1000  # refused rows kept in full; every refused row is counted
Progress = Callable[[int, int], None]  # (bytes of the file read so far, its size)


@dataclass
class ImportReport:
    """What an import did: rows read, subscriptions created, and the refused rows.

    ``refused`` counts every refused row; ``problems`` holds the first
    ``PROBLEMS_KEPT`` of them in row order, and ``counts`` every one by kind.
    """

    rows: int = 0
    imported: int = 0
    new_subscribers: int = 0
    confirmed_pending: int = 0  # pending sign-ups a confirmed import confirmed
    refused: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)

    def refuse(self, problems: list[RowProblem]) -> None:
        """Record refused rows (given in row order)."""
        for problem in problems:
            kind = problem.reason.split(":", 1)[0]
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
        room = PROBLEMS_KEPT - len(self.problems)
        self.problems.extend(problems[: max(room, 0)])
        self.refused += len(problems)

    def counts(self) -> dict[str, int]:
        """How many rows were refused per kind of reason."""
        return dict(self.kinds)


@dataclass
class _Import:
    """One import's running state; ``chunk`` writes each chunk of rows."""

    session: Session
    mailing_list: MailingList
    confirmed: bool
    consent: str
    report: ImportReport
    # Subscriptions with a larger id were written by this import...
    watermark: int
    # ... and ``first_rows[id - watermark - 1]`` is the row that wrote each (0: not ours).
    first_rows: array[int] = field(default_factory=lambda: array("I"))
    # On PostgreSQL: the temporary table each chunk is checked and written from.
    stage: Stage | None = None
    created: array[int] = field(default_factory=lambda: array("q"))

    @property
    def state(self) -> SubscriptionState:
        return SubscriptionState.CONFIRMED if self.confirmed else SubscriptionState.PENDING

    def earlier_row(self, subscription_id: int) -> int:
        """The row of this file that wrote the subscription, or 0."""
        offset = subscription_id - self.watermark - 1
        return self.first_rows[offset] if 0 <= offset < len(self.first_rows) else 0

    def chunk(self, items: Sequence[CsvRow | RowProblem]) -> None:
        """Check one chunk of rows against the database and write the good ones."""
        problems: list[RowProblem] = []
        rows: dict[str, CsvRow] = {}
        for item in items:
            if isinstance(item, RowProblem):
                problems.append(item)
            elif (first := rows.get(item.email)) is not None:
                problems.append(
                    RowProblem(
                        item.number, item.email, f"duplicate: same address as row {first.number}"
                    )
                )
            else:
                rows[item.email] = item
        if self.stage is not None:
            known = self.stage.fill(rows.values(), self.mailing_list.id)
        else:
            known = look_up(self.session, list(rows), self.mailing_list.id)
        accepted, dropped, to_confirm = self._decide(rows, known, problems)
        problems.sort(key=lambda problem: problem.row)
        self.report.refuse(problems)
        self.report.confirmed_pending += len(to_confirm)
        confirm_pending(self.session, to_confirm, self.mailing_list.id, self.consent)
        if self.stage is not None:
            new, written = self.stage.write(dropped, self.mailing_list.id, self.state, self.consent)
        else:
            new, written = self._insert(accepted, known.subscribers)
        self.report.new_subscribers += new
        self.report.imported += len(written)
        for subscription_id, number in written:
            offset = subscription_id - self.watermark - 1
            if offset >= len(self.first_rows):
                missing = offset + 1 - len(self.first_rows)
                self.first_rows.frombytes(bytes(missing * self.first_rows.itemsize))
            self.first_rows[offset] = number
            self.created.append(subscription_id)

    def _decide(
        self, rows: dict[str, CsvRow], known: Known, problems: list[RowProblem]
    ) -> tuple[list[CsvRow], list[str], list[int]]:
        """Each row by what the database has on it: the rows to write, the addresses not
        to write, and the pending subscriptions to confirm; refusals go to ``problems``."""
        accepted: list[CsvRow] = []
        dropped: list[str] = []  # refused or confirmed: not written
        to_confirm: list[int] = []
        for row in rows.values():
            reason = known.suppressed.get(row.email)
            member = known.members.get(known.subscribers.get(row.email, -1))
            if reason is not None:
                problems.append(RowProblem(row.number, row.email, f"suppressed: {reason.value}"))
            elif member is None:
                accepted.append(row)
                continue
            elif earlier := self.earlier_row(member[0]):
                problems.append(
                    RowProblem(row.number, row.email, f"duplicate: same address as row {earlier}")
                )
            elif self.confirmed and member[1] is SubscriptionState.PENDING:
                to_confirm.append(member[0])
            else:
                problems.append(
                    RowProblem(
                        row.number,
                        row.email,
                        f"already on the list ({member[1].value}): left unchanged",
                    )
                )
            dropped.append(row.email)
        return accepted, dropped, to_confirm

    def _insert(
        self, accepted: list[CsvRow], subscribers: dict[str, int]
    ) -> tuple[int, list[tuple[int, int]]]:
        """SQLite: write the accepted rows; new subscribers, and (subscription id, row)s."""
        fresh = [row for row in accepted if row.email not in subscribers]
        new_ids = insert_subscribers(self.session, fresh)
        subscribers.update(new_ids)
        written = insert_subscriptions(
            self.session, accepted, subscribers, self.mailing_list, self.state, self.consent
        )
        return len(new_ids), written


def import_csv(
    session: Session,
    path: Path,
    *,
    list_slug: str,
    confirmed: bool = False,
    consent: str = "",
    confirmer: Confirmer | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ImportReport:
    """Import a CSV into a list; see the module docstring for the policy."""
    if confirmed and not consent.strip():
        raise InvalidInputError(
            "--consent: say how these people agreed (required with --confirmed)"
        )
    if not confirmed and confirmer is None and not dry_run:
        raise UserError("import: pending subscribers need a confirmer to email them")
    mailing_list = get_list(session, list_slug)
    size = check_file(path, limits.csv_bytes)
    publication = mailing_list.publication
    report = ImportReport()
    topics = offered_topics(session, publication)
    with CsvRows(path, topics, offered_days(publication), max_rows=limits.csv_rows) as reader:
        savepoint = session.begin_nested() if dry_run else None
        watermark = session.scalar(select(func.max(Subscription.id))) or 0
        state = _Import(session, mailing_list, confirmed, consent, report, watermark)
        if on_postgresql(session):
            state.stage = Stage(session)  # in the savepoint: a dry run leaves no table
        rows = iter(reader)
        while chunk := list(islice(rows, CHUNK)):
            state.chunk(chunk)
            if progress:
                progress(reader.position, size)
        report.rows = reader.count
        if savepoint is not None:
            savepoint.rollback()
            return report
    if not confirmed and confirmer is not None:
        # Only after the caller commits: a failed import must not have emailed anyone.
        send_confirmations(session, confirmer, list(state.created))
    return report


def export_csv(
    session: Session,
    list_slug: str,
    out: TextIO,
    *,
    states: Iterable[SubscriptionState] = (SubscriptionState.CONFIRMED,),
) -> int:
    """Write a list's subscribers (confirmed by default) as CSV in the import format."""
    mailing_list = get_list(session, list_slug)
    query = (
        select(
            Subscriber.email,
            Subscriber.name,
            Subscription.topics,
            Subscriber.timezone,
            Subscriber.locale,
            Subscription.cadence,
            Subscription.weekly_day,
            Subscription.digests,
            Subscription.alerts,
            Subscription.alert_topics,
        )
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(Subscription.list_id == mailing_list.id, Subscription.state.in_(list(states)))
        .order_by(Subscriber.email)
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in session.execute(query):
        email, name, topics, timezone, locale, cadence, weekly_day = row[:7]
        digests, alerts, alert_topics = row[7:]
        cells = [
            email,
            name,
            TOPIC_SEPARATOR.join(topics),
            timezone or "",  # blank: the publication's zone, as the import reads it
            locale,
            cadence.value,
            weekly_day or "",
            "yes" if digests else "no",
            "yes" if alerts else "no",
            TOPIC_SEPARATOR.join(alert_topics or ()),
        ]
        # Every cell, not only the free-text ones: an address or a topic from a public
        # sign-up can start with "=" too (CSV injection); the import reads it back.
        writer.writerow([csv_cell(cell) for cell in cells])
        count += 1
    return count
