"""Applying provider events to the ledger: once each, through the delivery state machine.

An event is stored first with its ``sg_event_id`` under a unique key (insert, or
nothing on conflict): a duplicate is recognised by the insert changing no row, and
then nothing else happens. Events may arrive in any order, so a state change the
table refuses (``processed`` after ``delivered``) is ignored, not an error.

What each event does: ``processed`` / ``delivered`` / ``deferred`` / ``bounce`` /
``dropped`` move the delivery (and confirm a batch whose answer was lost);
hard bounces and spam reports suppress the address; ``unsubscribe`` and
``group_unsubscribe`` end the subscription the message was sent for; ``open`` and
``click`` are counted. Events that name no delivery of ours are stored and counted
as unmatched (test sends, other senders on the account).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter.db import utcnow
from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState, can_move
from newsletter.delivery.reconcile import confirm_batch
from newsletter.delivery.webhook import EventKind, ProviderEvent
from newsletter.errors import InvalidInputError, NotFoundError
from subscribers.models import ConsentSource, SuppressionReason
from subscribers.services import Evidence, suppress, unsubscribe
from subscribers.tokens import TokenSubject

# Personal data SendGrid adds to engagement events; never stored.
PRIVATE_FIELDS = frozenset({"ip", "useragent"})
MOVES = {
    EventKind.PROCESSED: DeliveryState.ACCEPTED,
    EventKind.DELIVERED: DeliveryState.DELIVERED,
    EventKind.DEFERRED: DeliveryState.DEFERRED,
    EventKind.BOUNCE: DeliveryState.BOUNCED,
    EventKind.DROPPED: DeliveryState.DROPPED,
}
# Events that can only follow an accepted request, so they prove a lost answer was a yes.
CONFIRMING = frozenset(MOVES)
HARD_BOUNCE = "bounce"  # SendGrid's bounce "type"; "blocked" is the receiver's refusal


@dataclass(frozen=True)
class EventsResult:
    """How many events were new, duplicates, or about no delivery of ours."""

    applied: int = 0
    duplicates: int = 0
    unmatched: int = 0


def _insert_once(session: Session, values: dict[str, Any]) -> bool:
    """Insert the event unless its ``sg_event_id`` is known; True if this call stored it."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(DeliveryEvent).on_conflict_do_nothing(
            index_elements=["sg_event_id"]
        )
    elif dialect == "sqlite":
        stmt = sqlite.insert(DeliveryEvent).on_conflict_do_nothing(index_elements=["sg_event_id"])
    else:  # pragma: no cover - the project supports SQLite and PostgreSQL only
        stmt = insert(DeliveryEvent)
    # RETURNING yields no row when the conflict clause skipped the insert.
    return session.execute(stmt.returning(DeliveryEvent.id), values).first() is not None


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 19 else None


def find_delivery(session: Session, event: ProviderEvent) -> Delivery | None:
    """The delivery an event's ``custom_args`` name, if it is ours."""
    digest_id, subscriber_id = _int(event.edition_id), _int(event.subscriber_id)
    if digest_id is None or subscriber_id is None:
        return None
    return session.scalar(
        select(Delivery).where(
            Delivery.digest_id == digest_id, Delivery.subscriber_id == subscriber_id
        )
    )


def private_free(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The raw event without the reader's IP address and user agent."""
    return {key: value for key, value in raw.items() if key not in PRIVATE_FIELDS}


def apply_events(
    session: Session,
    events: Iterable[ProviderEvent],
    raw: Mapping[str, Mapping[str, Any]],
    *,
    now: datetime | None = None,
) -> EventsResult:
    """Store and apply each event once; ``raw`` maps ``sg_event_id`` to the event as received."""
    now = now or utcnow()
    applied = duplicates = unmatched = 0
    confirmed: set[int] = set()
    for event in events:
        delivery = find_delivery(session, event)
        stored = _insert_once(
            session,
            {
                "sg_event_id": event.sg_event_id,
                "kind": event.name[:32] or event.kind.value,
                "delivery_id": delivery.id if delivery is not None else None,
                "raw": private_free(raw.get(event.sg_event_id, {})),
                "received_at": now,
            },
        )
        if not stored:
            duplicates += 1
            continue
        batch_id = _int(event.batch_id)
        if event.kind in CONFIRMING and batch_id is not None and batch_id not in confirmed:
            confirmed.add(batch_id)
            confirm_batch(session, batch_id, now=now)
            if delivery is not None:
                session.refresh(delivery)
        _suppress(session, event)
        if delivery is None:
            unmatched += 1
            continue
        _apply(session, delivery, event, now)
        applied += 1
    session.flush()
    return EventsResult(applied, duplicates, unmatched)


def _suppress(session: Session, event: ProviderEvent) -> None:
    reason = None
    if event.kind is EventKind.BOUNCE and event.bounce_type == HARD_BOUNCE:
        reason = SuppressionReason.HARD_BOUNCE
    elif event.kind is EventKind.SPAMREPORT:
        reason = SuppressionReason.SPAM_REPORT
    if reason is None:
        return
    try:
        suppress(session, event.email, reason, note=f"SendGrid {event.name} event")
    except InvalidInputError:
        return  # an address we could never have sent to; nothing to suppress


def _apply(session: Session, delivery: Delivery, event: ProviderEvent, now: datetime) -> None:
    target = MOVES.get(event.kind)
    if target is not None:
        if can_move(delivery.state, target):
            delivery.state = target
            delivery.updated_at = now
            if event.reason and target in (DeliveryState.BOUNCED, DeliveryState.DROPPED):
                delivery.last_error = event.reason[:2000]
        return
    if event.kind is EventKind.OPEN:
        delivery.opens += 1
        delivery.first_opened_at = delivery.first_opened_at or event.timestamp
    elif event.kind is EventKind.CLICK:
        delivery.clicks += 1
        delivery.first_clicked_at = delivery.first_clicked_at or event.timestamp
    elif event.kind is EventKind.SPAMREPORT:
        delivery.complained_at = delivery.complained_at or event.timestamp
    elif event.kind in (EventKind.UNSUBSCRIBE, EventKind.GROUP_UNSUBSCRIBE):
        evidence = Evidence(ConsentSource.EMAIL, text=f"SendGrid {event.name} event")
        try:
            unsubscribe(
                session, TokenSubject(delivery.subscriber_id, delivery.list_id), evidence, now=now
            )
        except NotFoundError:
            return  # the subscriber was erased meanwhile
