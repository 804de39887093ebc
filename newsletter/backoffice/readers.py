"""Readers in the back office: search, one reader's record, and what an admin may do to it.

Search matches part of an address or a name (case-insensitive, ``%`` and ``_`` taken
literally), optionally on one list and in one subscription state, fifty readers a
page. A reader's record is what ``export_data`` holds (subscriptions, consents,
suppression) plus their deliveries of the latest editions of their publications.

Every action says beforehand whether it can succeed (``Actions``), so the page
offers only those; each is checked again when it runs and leaves an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from newsletter.db import utcnow
from newsletter.delivery.models import Delivery
from newsletter.digests.models import Digest
from newsletter.errors import InvalidInputError, NotFoundError, TransitionError
from newsletter.publications.models import Publication
from subscribers.models import (
    ConsentSource,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionState,
    SuppressionReason,
)
from subscribers.personal_data import erase, export_data
from subscribers.services import Confirmer, send_confirmations
from subscribers.suppression import suppress, suppression_of
from subscribers.transitions import Evidence, transition

PAGE_SIZE = 50
MAX_PAGE = 100_000
HISTORY_EDITIONS = 50
MAX_QUERY = 320
# Only a suppression an admin added can be lifted here; a bounce or a complaint stays
# until the reader opts in again themselves.
LIFTABLE = frozenset({SuppressionReason.MANUAL})
_S = SubscriptionState


@dataclass(frozen=True)
class ReaderQuery:
    """What the search form asks for; ``clean_query`` checks it."""

    text: str = ""
    list_slug: str = ""
    state: SubscriptionState | None = None
    page: int = 1


@dataclass(frozen=True)
class ReaderRow:
    """One reader in the results: their lists with the state on each."""

    id: int
    email: str
    name: str
    created_at: datetime
    lists: list[tuple[str, str]]
    suppressed: bool
    locale: str = ""  # the language they chose ("": none, each publication's default)


@dataclass(frozen=True)
class ReaderPage:
    """One page of results and where it stands among all of them."""

    rows: list[ReaderRow]
    total: int
    page: int
    pages: int


def clean_query(text: str, list_slug: str, state: str, page: str) -> ReaderQuery:
    """The search as typed, checked: an unknown state or a page that is no number names
    its field (``InvalidInputError``)."""
    typed_state = state.strip().lower()
    try:
        chosen = SubscriptionState(typed_state) if typed_state else None
    except ValueError:
        names = ", ".join(s.value for s in SubscriptionState)
        raise InvalidInputError(f"State: choose one of {names}") from None
    page_text = page.strip() or "1"
    if not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
        raise InvalidInputError(f"Page: a whole number from 1 to {MAX_PAGE:,}")
    return ReaderQuery(text.strip()[:MAX_QUERY], list_slug.strip(), chosen, int(page_text))


def search(session: Session, query: ReaderQuery) -> ReaderPage:
    """The readers matching ``query``, by address, one page of them."""
    matching = select(Subscriber.id)
    if query.text:
        needle = query.text.casefold()
        matching = matching.where(
            or_(
                func.lower(Subscriber.email).contains(needle, autoescape=True),
                func.lower(Subscriber.name).contains(needle, autoescape=True),
            )
        )
    if query.list_slug or query.state is not None:
        on_list = select(Subscription.subscriber_id).join(
            MailingList, MailingList.id == Subscription.list_id
        )
        if query.list_slug:
            if (
                session.scalar(select(MailingList.id).where(MailingList.slug == query.list_slug))
                is None
            ):
                raise InvalidInputError(f"List: there is no list {query.list_slug!r}")
            on_list = on_list.where(MailingList.slug == query.list_slug)
        if query.state is not None:
            on_list = on_list.where(Subscription.state == query.state)
        matching = matching.where(Subscriber.id.in_(on_list))
    total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(query.page, pages)
    found = session.execute(
        select(
            Subscriber.id,
            Subscriber.email,
            Subscriber.name,
            Subscriber.created_at,
            Subscriber.locale,
        )
        .where(Subscriber.id.in_(matching))
        .order_by(Subscriber.email)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    ids = [row.id for row in found]
    lists: dict[int, list[tuple[str, str]]] = {reader_id: [] for reader_id in ids}
    for subscriber_id, slug, state in session.execute(
        select(Subscription.subscriber_id, MailingList.slug, Subscription.state)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id.in_(ids))
        .order_by(MailingList.slug)
    ):
        lists[subscriber_id].append((slug, state.value))
    rows = [
        ReaderRow(
            row.id,
            row.email,
            row.name,
            row.created_at,
            lists[row.id],
            suppression_of(session, row.email) is not None,
            row.locale,
        )
        for row in found
    ]
    return ReaderPage(rows, total, page, pages)


@dataclass(frozen=True)
class SubscriptionView:
    """One of the reader's subscriptions, with the actions that can succeed on it."""

    id: int
    list_slug: str
    list_name: str
    publication: str
    state: str
    topics: list[str]
    cadence: str
    confirmed_at: datetime | None
    can_unsubscribe: bool
    can_resend: bool
    resend_after: datetime | None  # when a confirmation may be sent again, if not now
    language: str = ""  # the language the reader gets from this publication


@dataclass(frozen=True)
class HistoryRow:
    """The reader's copy of one edition."""

    digest_id: int
    publication: str
    edition_date: date
    cadence: str
    state: str
    detail: str
    late: bool
    opens: int
    clicks: int


@dataclass(frozen=True)
class Reader:
    """Everything the reader's page shows."""

    id: int
    email: str
    record: dict[str, Any]
    subscriptions: list[SubscriptionView]
    history: list[HistoryRow]
    can_suppress: bool
    can_lift: bool
    notes: list[str] = field(default_factory=list)


def get_reader(session: Session, reader_id: int) -> Subscriber:
    """The subscriber with ``reader_id``, or ``NotFoundError``."""
    subscriber = session.get(Subscriber, reader_id)
    if subscriber is None:
        raise NotFoundError(f"reader {reader_id}: no such reader (erased, or never existed)")
    return subscriber


def reader_record(
    session: Session, reader_id: int, *, resend_interval: timedelta, now: datetime | None = None
) -> Reader:
    """The reader's page: record, subscriptions with their possible actions, history."""
    now = now or utcnow()
    subscriber = get_reader(session, reader_id)
    record = export_data(session, subscriber.email)
    views = [_view(item, resend_interval, now) for item in subscriber.subscriptions]
    suppression = suppression_of(session, subscriber.email)
    return Reader(
        subscriber.id,
        subscriber.email,
        record,
        views,
        _history(session, subscriber),
        can_suppress=suppression is None,
        can_lift=suppression is not None and suppression.reason in LIFTABLE,
    )


def _view(
    subscription: Subscription, resend_interval: timedelta, now: datetime
) -> SubscriptionView:
    mailing_list = subscription.mailing_list
    sent = subscription.confirmation_sent_at
    wait_until = sent + resend_interval if sent is not None else None
    pending = subscription.state is _S.PENDING
    return SubscriptionView(
        subscription.id,
        mailing_list.slug,
        mailing_list.name,
        mailing_list.publication.name,
        subscription.state.value,
        list(subscription.topics),
        subscription.cadence.value,
        subscription.confirmed_at,
        can_unsubscribe=subscription.state in (_S.PENDING, _S.CONFIRMED),
        can_resend=pending and (wait_until is None or wait_until <= now),
        resend_after=wait_until
        if pending and wait_until is not None and wait_until > now
        else None,
        language=mailing_list.publication.language_for(subscription.subscriber.locale),
    )


def _history(session: Session, subscriber: Subscriber) -> list[HistoryRow]:
    """The reader's deliveries among the latest editions of their publications.

    Looked up edition by edition through the ledger's unique (digest, subscriber)
    key: the ledger has no index by subscriber, on purpose (see ``Delivery``).
    """
    publication_ids = {item.mailing_list.publication_id for item in subscriber.subscriptions}
    if not publication_ids:
        return []
    editions = session.execute(
        select(Digest.id, Digest.edition_date, Digest.cadence, Publication.name)
        .join(Publication, Publication.id == Digest.publication_id)
        .where(Digest.publication_id.in_(publication_ids))
        .order_by(Digest.id.desc())
        .limit(HISTORY_EDITIONS)
    ).all()
    by_digest = {row.id: row for row in editions}
    if not by_digest:
        return []
    deliveries = session.scalars(
        select(Delivery).where(
            Delivery.digest_id.in_(list(by_digest)), Delivery.subscriber_id == subscriber.id
        )
    ).all()
    rows = []
    for delivery in sorted(deliveries, key=lambda item: item.digest_id, reverse=True):
        edition = by_digest[delivery.digest_id]
        detail = delivery.skip_reason.value if delivery.skip_reason else ""
        if delivery.failure is not None:
            detail = delivery.failure.value
        rows.append(
            HistoryRow(
                delivery.digest_id,
                edition.name,
                edition.edition_date,
                edition.cadence.value,
                delivery.state.value,
                detail,
                bool(delivery.late),
                delivery.opens,
                delivery.clicks,
            )
        )
    return rows


def _subscription_of(subscriber: Subscriber, subscription_id: int) -> Subscription:
    for subscription in subscriber.subscriptions:
        if subscription.id == subscription_id:
            return subscription
    raise NotFoundError(f"subscription {subscription_id}: not one of this reader's")


def back_office_evidence(actor: str, ip: str) -> Evidence:
    """The consent record's evidence of a change an admin made in the back office."""
    return Evidence(ConsentSource.BACK_OFFICE, text=f"by {actor} in the back office", ip=ip or None)


def unsubscribe_reader(
    session: Session, reader_id: int, subscription_id: int, evidence: Evidence
) -> Subscription:
    """Take the reader off one list (a consent row records who did it)."""
    subscription = _subscription_of(get_reader(session, reader_id), subscription_id)
    if subscription.state not in (_S.PENDING, _S.CONFIRMED):
        raise TransitionError(
            f"{subscription.mailing_list.slug}: already {subscription.state.value}, nothing to undo"
        )
    transition(session, subscription, _S.UNSUBSCRIBED, evidence)
    return subscription


def resend_confirmation(
    session: Session,
    reader_id: int,
    subscription_id: int,
    confirmer: Confirmer,
    *,
    resend_interval: timedelta,
    now: datetime | None = None,
) -> Subscription:
    """Send a pending sign-up's confirmation email again (after the resend interval)."""
    now = now or utcnow()
    subscription = _subscription_of(get_reader(session, reader_id), subscription_id)
    view = _view(subscription, resend_interval, now)
    if subscription.state is not _S.PENDING:
        raise TransitionError(f"{view.list_slug}: {view.state}, so there is nothing to confirm")
    if not view.can_resend:
        assert view.resend_after is not None
        raise TransitionError(
            f"{view.list_slug}: a confirmation went out recently; it can be sent again after "
            f"{view.resend_after:%Y-%m-%d %H:%M} UTC"
        )
    subscription.confirmation_sent_at = now
    session.flush()
    send_confirmations(session, confirmer, [subscription.id])
    return subscription


def suppress_reader(session: Session, reader_id: int, note: str) -> None:
    """Never mail this reader again, whatever their subscriptions say."""
    subscriber = get_reader(session, reader_id)
    if suppression_of(session, subscriber.email) is not None:
        raise TransitionError(f"{subscriber.email}: already suppressed")
    suppress(session, subscriber.email, SuppressionReason.MANUAL, note=note.strip()[:500])


def lift_reader(session: Session, reader_id: int) -> None:
    """Lift a suppression an admin added (bounces and complaints cannot be lifted here)."""
    subscriber = get_reader(session, reader_id)
    entry = suppression_of(session, subscriber.email)
    if entry is None:
        raise TransitionError(f"{subscriber.email}: not suppressed")
    if entry.reason not in LIFTABLE:
        raise TransitionError(
            f"{subscriber.email}: suppressed after a {entry.reason.value.replace('_', ' ')}; "
            "only the reader signing up again lifts that"
        )
    session.delete(entry)
    session.flush()


def erase_reader(session: Session, reader_id: int, typed: str) -> str:
    """Erase the reader's personal data once the admin typed their address; the address."""
    subscriber = get_reader(session, reader_id)
    if typed.strip().casefold() != subscriber.email.casefold():
        raise InvalidInputError("Type the address: it must match the reader's address exactly")
    email = subscriber.email
    erase(session, email)
    return email
