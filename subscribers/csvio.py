"""CSV import and export of a list's subscribers.

Import policy: good rows are imported and bad rows are reported by row number (the
header is row 1), in one transaction; nothing is half-written, and confirmation emails
leave only once that transaction commits. ``dry_run`` checks
every row and writes nothing. A wrong header or a file that is not UTF-8 is refused
as a whole before any row is read. An address already on the list is left as it is,
except that a ``confirmed`` import (recorded prior consent) confirms a pending sign-up.

The file's format (columns, header, each row's checks) is read by ``csvread``. Rows
are validated in Python, then inserted with Core ``executemany`` in chunks: an import
of 100k rows makes a few hundred statements, not 300k. The export writes that same
format.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from newsletter.db import Base
from newsletter.errors import InvalidInputError, UserError
from subscribers.addresses import email_hash
from subscribers.choices import offered_days, offered_topics
from subscribers.csvread import COLUMNS, TOPIC_SEPARATOR, CsvRow, RowProblem, parse_csv, read_text
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
# Core tables: bulk inserts skip the ORM's per-object bookkeeping.
_SUBSCRIBERS = Base.metadata.tables[Subscriber.__tablename__]
_SUBSCRIPTIONS = Base.metadata.tables[Subscription.__tablename__]
_CONSENTS = Base.metadata.tables[Consent.__tablename__]
# Timestamps of bulk rows come from the database clock, rendered once into the statement:
# binding a Python datetime converts it again for every row, the largest cost of an import.
_NOW = func.current_timestamp()
Progress = Callable[[int, int], None]  # (rows written so far, rows to write)


@dataclass
class ImportReport:
    """What an import did: rows read, subscriptions created, and each refused row."""

    rows: int = 0
    imported: int = 0
    new_subscribers: int = 0
    confirmed_pending: int = 0  # pending sign-ups a confirmed import confirmed
    problems: list[RowProblem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many rows were refused per kind of reason."""
        result: dict[str, int] = {}
        for problem in self.problems:
            kind = problem.reason.split(":", 1)[0]
            result[kind] = result.get(kind, 0) + 1
        return result


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
) -> ImportReport:
    """Import a CSV into a list; see the module docstring for the policy."""
    if confirmed and not consent.strip():
        raise InvalidInputError(
            "--consent: say how these people agreed (required with --confirmed)"
        )
    if not confirmed and confirmer is None and not dry_run:
        raise UserError("import: pending subscribers need a confirmer to email them")
    mailing_list = get_list(session, list_slug)
    text = read_text(path)
    publication = mailing_list.publication
    rows, problems, count = parse_csv(
        path, text, offered_topics(session, publication), offered_days(publication)
    )
    report = ImportReport(rows=count, problems=problems)
    suppressed = dict(session.execute(select(Suppression.email_hash, Suppression.reason)).all())
    existing = _existing_subscribers(session, [row.email for row in rows])
    on_list: dict[int, tuple[int, SubscriptionState]] = {
        subscriber_id: (subscription_id, state)
        for subscriber_id, subscription_id, state in session.execute(
            select(Subscription.subscriber_id, Subscription.id, Subscription.state).where(
                Subscription.list_id == mailing_list.id
            )
        )
    }
    accepted: list[CsvRow] = []
    to_confirm: list[int] = []
    for row in rows:
        reason = suppressed.get(email_hash(row.email))
        member = on_list.get(existing.get(row.email, -1))
        if reason is not None:
            problems.append(RowProblem(row.number, row.email, f"suppressed: {reason.value}"))
        elif member is None:
            accepted.append(row)
        elif confirmed and member[1] is SubscriptionState.PENDING:
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
    report.confirmed_pending = len(to_confirm)
    if dry_run:
        report.imported = len(accepted)
        return report
    _confirm_pending(session, to_confirm, mailing_list.id, consent)
    state = SubscriptionState.CONFIRMED if confirmed else SubscriptionState.PENDING
    fresh = [row for row in accepted if row.email not in existing]
    total = len(fresh) + len(accepted)
    done = 0

    def advance(rows: int) -> None:
        nonlocal done
        done += rows
        if progress:
            progress(done, total)

    new_ids = _insert_subscribers(session, fresh, advance)
    report.new_subscribers = len(new_ids)
    existing.update(new_ids)
    ids = _insert_subscriptions(session, accepted, existing, mailing_list, state, consent, advance)
    report.imported = len(ids)
    if not confirmed and confirmer is not None:
        # Only after the caller commits: a failed import must not have emailed anyone.
        send_confirmations(session, confirmer, ids)
    return report


def _confirm_pending(
    session: Session, subscription_ids: list[int], list_id: int, consent: str
) -> None:
    """Confirm pending sign-ups of this list, with the import's consent on record."""
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
        found.update(session.execute(query).all())
    return found


def _insert_subscribers(
    session: Session, rows: list[CsvRow], advance: Callable[[int], None]
) -> dict[str, int]:
    # Plain executemany, then read the ids back: RETURNING with a guaranteed order makes
    # SQLite insert one row per statement, several times slower.
    connection = session.connection()
    for chunk in _chunks(rows):
        values = [
            {
                "email": row.email,
                "name": row.name,
                "locale": row.locale,
                "timezone": row.timezone,
            }
            for row in chunk
        ]
        connection.execute(insert(_SUBSCRIBERS).values(created_at=_NOW, updated_at=_NOW), values)
        advance(len(chunk))
    return _existing_subscribers(session, [row.email for row in rows])


def _insert_subscriptions(
    session: Session,
    rows: list[CsvRow],
    subscriber_ids: dict[str, int],
    mailing_list: MailingList,
    state: SubscriptionState,
    consent: str,
    advance: Callable[[int], None],
) -> list[int]:
    confirmed = state is SubscriptionState.CONFIRMED
    connection = session.connection()
    created: list[int] = []
    for chunk in _chunks(rows):
        members = [subscriber_ids[row.email] for row in chunk]
        stamps: dict[str, Any] = {"created_at": _NOW, "updated_at": _NOW}
        if confirmed:
            stamps["confirmed_at"] = _NOW
        else:
            stamps.update(pending_since=_NOW, confirmation_sent_at=_NOW)
        values = [
            {
                "subscriber_id": member,
                "list_id": mailing_list.id,
                "state": state,
                "topics": row.topics,
                "cadence": row.reading.cadence,
                "weekly_day": row.reading.weekly_day,
            }
            for member, row in zip(members, chunk, strict=True)
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
        created.extend(
            session.scalars(
                select(Subscription.id).where(
                    Subscription.list_id == mailing_list.id,
                    Subscription.subscriber_id.in_(members),
                )
            )
        )
        advance(len(chunk))
    return created


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
        )
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(Subscription.list_id == mailing_list.id, Subscription.state.in_(list(states)))
        .order_by(Subscriber.email)
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for email, name, topics, timezone, locale, cadence, weekly_day in session.execute(query):
        writer.writerow(
            [
                email,
                _safe(name),
                TOPIC_SEPARATOR.join(topics),
                timezone or "",  # blank: the publication's zone, as the import reads it
                locale,
                cadence.value,
                weekly_day or "",
            ]
        )
        count += 1
    return count


def _safe(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in free-text cells."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
