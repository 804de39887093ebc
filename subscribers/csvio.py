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
this list's subscriptions) with a few ``IN`` queries and inserted with Core
``executemany``. Memory stays flat in the file's size: an address repeated in the file
is found because its first row is already written (its row number is kept in a compact
array by subscription id), and only the first ``PROBLEMS_KEPT`` refused rows are kept
in full (every one is counted). The export writes the same format.
"""

from __future__ import annotations

import csv
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from newsletter.db import Base
from newsletter.errors import InvalidInputError, UserError
from newsletter.limits import DEFAULT_LIMITS, Limits
from newsletter.textrules import csv_cell
from subscribers.addresses import email_hash
from subscribers.choices import offered_days, offered_topics
from subscribers.csvread import COLUMNS, TOPIC_SEPARATOR, CsvRow, CsvRows, RowProblem, check_file
from subscribers.models import (
    Consent,
    ConsentSource,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionState,
    Suppression,
)
from subscribers.services import Confirmer, get_list, send_confirmations

CHUNK = 2000
PROBLEMS_KEPT = 1000  # refused rows kept in full; every refused row is counted
# Core tables: bulk inserts skip the ORM's per-object bookkeeping.
_SUBSCRIBERS = Base.metadata.tables[Subscriber.__tablename__]
_SUBSCRIPTIONS = Base.metadata.tables[Subscription.__tablename__]
_CONSENTS = Base.metadata.tables[Consent.__tablename__]
# Timestamps of bulk rows come from the database clock, rendered once into the statement:
# binding a Python datetime converts it again for every row, the largest cost of an import.
_NOW = func.current_timestamp()
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


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
        session = self.session
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
        hashes = {email_hash(email): email for email in rows}
        connection = session.connection()
        suppressed = {
            hashes[digest]: reason
            for digest, reason in connection.execute(
                select(Suppression.email_hash, Suppression.reason).where(
                    Suppression.email_hash.in_(list(hashes))
                )
            )
        }
        existing = _existing_subscribers(session, list(rows))
        on_list: dict[int, tuple[int, SubscriptionState]] = {
            subscriber_id: (subscription_id, state)
            for subscriber_id, subscription_id, state in connection.execute(
                select(Subscription.subscriber_id, Subscription.id, Subscription.state).where(
                    Subscription.list_id == self.mailing_list.id,
                    Subscription.subscriber_id.in_(list(existing.values())),
                )
            )
        }
        accepted: list[CsvRow] = []
        to_confirm: list[int] = []
        for row in rows.values():
            reason = suppressed.get(row.email)
            member = on_list.get(existing.get(row.email, -1))
            if reason is not None:
                problems.append(RowProblem(row.number, row.email, f"suppressed: {reason.value}"))
            elif member is None:
                accepted.append(row)
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
        problems.sort(key=lambda problem: problem.row)
        self.report.refuse(problems)
        self.report.confirmed_pending += len(to_confirm)
        _confirm_pending(session, to_confirm, self.mailing_list.id, self.consent)
        fresh = [row for row in accepted if row.email not in existing]
        new_ids = _insert_subscribers(session, fresh)
        self.report.new_subscribers += len(new_ids)
        existing.update(new_ids)
        written = _insert_subscriptions(
            session, accepted, existing, self.mailing_list, self.state, self.consent
        )
        self.report.imported += len(written)
        for subscription_id, number in written:
            offset = subscription_id - self.watermark - 1
            if offset >= len(self.first_rows):
                missing = offset + 1 - len(self.first_rows)
                self.first_rows.frombytes(bytes(missing * self.first_rows.itemsize))
            self.first_rows[offset] = number
            self.created.append(subscription_id)


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


def _confirm_pending(
    session: Session, subscription_ids: list[int], list_id: int, consent: str
) -> None:
    """Confirm pending sign-ups of this list, with the import's consent on record."""
    if not subscription_ids:
        return
    connection = session.connection()
    for chunk in _chunks(subscription_ids):
        connection.execute(
            update(_SUBSCRIPTIONS)
            .where(
                _SUBSCRIPTIONS.c.id.in_(chunk),
                _SUBSCRIPTIONS.c.state == SubscriptionState.PENDING,
            )
            .values(state=SubscriptionState.CONFIRMED, confirmed_at=_NOW, updated_at=_NOW)
        )
        members = session.scalars(
            select(Subscription.subscriber_id).where(Subscription.id.in_(chunk))
        ).all()
        consents = [
            {
                "subscriber_id": member,
                "list_id": list_id,
                "from_state": SubscriptionState.PENDING.value,
                "to_state": SubscriptionState.CONFIRMED.value,
                "source": ConsentSource.IMPORT,
                "text": consent,
            }
            for member in members
        ]
        connection.execute(insert(_CONSENTS).values(at=_NOW), consents)


def _existing_subscribers(session: Session, emails: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(emails, 5000):
        query = select(Subscriber.email, Subscriber.id).where(Subscriber.email.in_(chunk))
        found.update((email, number) for email, number in session.connection().execute(query))
    return found


def _insert_subscribers(session: Session, rows: list[CsvRow]) -> dict[str, int]:
    # Plain executemany, then read the ids back: RETURNING with a guaranteed order makes
    # SQLite insert one row per statement, several times slower.
    if not rows:
        return {}
    values = [
        {"email": row.email, "name": row.name, "locale": row.locale, "timezone": row.timezone}
        for row in rows
    ]
    session.connection().execute(
        insert(_SUBSCRIBERS).values(created_at=_NOW, updated_at=_NOW), values
    )
    return _existing_subscribers(session, [row.email for row in rows])


def _insert_subscriptions(
    session: Session,
    rows: list[CsvRow],
    subscriber_ids: dict[str, int],
    mailing_list: MailingList,
    state: SubscriptionState,
    consent: str,
) -> list[tuple[int, int]]:
    """Subscribe ``rows`` (one chunk); each new subscription's id with its row number."""
    if not rows:
        return []
    connection = session.connection()
    stamps: dict[str, Any] = {"created_at": _NOW, "updated_at": _NOW}
    if state is SubscriptionState.CONFIRMED:
        stamps["confirmed_at"] = _NOW
    else:
        stamps.update(pending_since=_NOW, confirmation_sent_at=_NOW)
    members = {subscriber_ids[row.email]: row.number for row in rows}
    values = [
        {
            "subscriber_id": subscriber_ids[row.email],
            "list_id": mailing_list.id,
            "state": state,
            "topics": row.topics,
            "cadence": row.reading.cadence,
            "weekly_day": row.reading.weekly_day,
            "digests": row.digests,
            "alerts": row.alerts,
            "alert_topics": list(row.alert_topics),
        }
        for row in rows
    ]
    connection.execute(insert(_SUBSCRIPTIONS).values(**stamps), values)
    consents = [
        {
            "subscriber_id": member,
            "list_id": mailing_list.id,
            "to_state": state.value,
            "source": ConsentSource.IMPORT,
            "text": consent,
        }
        for member in members
    ]
    connection.execute(insert(_CONSENTS).values(at=_NOW), consents)
    written = connection.execute(
        select(Subscription.id, Subscription.subscriber_id).where(
            Subscription.list_id == mailing_list.id,
            Subscription.subscriber_id.in_(list(members)),
        )
    )
    return sorted((subscription_id, members[member]) for subscription_id, member in written)


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
