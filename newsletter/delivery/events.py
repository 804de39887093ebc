"""Applying provider events to the ledger in sets: once each, through the delivery state machine.

The webhook only stores verified posts (``inbox``); ``apply_pending`` takes the
pending posts in arrival order and applies their events a set at a time, with a
few statements per set whatever its size: one lookup of the events already known
(``sg_event_id`` is unique, so a retried or replayed post is applied once), one
lookup of the deliveries per edition, one insert of the new events, one UPDATE
(executemany) for the state moves and one for the counters. Events that name no
delivery of ours are stored and counted as unmatched (test sends, other senders).

What each event does: ``processed`` / ``delivered`` / ``deferred`` / ``bounce`` /
``dropped`` move the delivery forward only (and confirm a batch whose answer was
lost or that the provider holds until its ``send_at``); several events about one
delivery in one set are folded in arrival order through the transition table, so
``delivered`` then ``bounce`` ends ``bounced`` and a late ``processed`` changes
nothing. Hard bounces and spam reports suppress the address, ``unsubscribe`` and
``group_unsubscribe`` end the subscription the message was sent for, once per
distinct address or subscription; ``open`` and ``click`` are counted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, Table, Text, bindparam, func, insert, select, type_coerce, update
from sqlalchemy.orm import Session

from newsletter.db import Database, utcnow
from newsletter.delivery.inbox import PendingPost, pending_posts, prune, take_pending
from newsletter.delivery.models import Delivery, DeliveryEvent, DeliveryState, can_move
from newsletter.delivery.reconcile import confirm_batch
from newsletter.delivery.webhook import EventKind, ProviderEvent, parse_with_raw
from newsletter.errors import InvalidInputError, NotFoundError
from subscribers.addresses import email_hash, normalise_email
from subscribers.models import ConsentSource, Suppression, SuppressionReason
from subscribers.services import Evidence, unsubscribe
from subscribers.tokens import TokenSubject

log = logging.getLogger(__name__)

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
_WITH_REASON = frozenset({DeliveryState.BOUNCED, DeliveryState.DROPPED})
_UNSUBSCRIBING = frozenset({EventKind.UNSUBSCRIBE, EventKind.GROUP_UNSUBSCRIBE})
# Events per applying transaction: short enough that a webhook post waiting for
# SQLite's write lock is not kept long, large enough that per-set costs vanish.
SET_SIZE = 2000
IN_CHUNK = 5000  # values per IN list (SQLite allows 32766 variables per statement)
RACE_RETRIES = 5
_ERROR_LIMIT = 2000
_STATES = {state.value: state for state in DeliveryState}
_INSERT_PG = (
    "INSERT INTO delivery_events (sg_event_id, kind, delivery_id, raw, received_at) "
    "SELECT i, k, d, r::json, %b::timestamptz "
    "FROM unnest(%b::text[], %b::text[], %b::int[], %b::text[]) AS e(i, k, d, r) "
    "ON CONFLICT (sg_event_id) DO NOTHING RETURNING sg_event_id"
)  # %b: arrays sent in binary, without the text format's per-element escaping
_INSERT_SQLITE = (
    "INSERT INTO delivery_events (sg_event_id, kind, delivery_id, raw, received_at) "
    "VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (sg_event_id) DO NOTHING"
)
Keyed = list[tuple[ProviderEvent, tuple[int, int] | None]]

_DELIVERIES = cast(Table, Delivery.__table__)
_EVENTS = cast(Table, DeliveryEvent.__table__)
_D = _DELIVERIES.c
_MOVE = (
    update(_DELIVERIES)
    .where(_D.id == bindparam("k_id"), _D.state == bindparam("k_seen", type_=_D.state.type))
    .values(
        state=bindparam("k_state", type_=_D.state.type),
        last_error=func.coalesce(bindparam("k_error", type_=Text), _D.last_error),
        updated_at=bindparam("k_now", type_=_D.updated_at.type),
    )
)
_COUNT = (
    update(_DELIVERIES)
    .where(_D.id == bindparam("k_id"))
    .values(
        opens=_D.opens + bindparam("k_opens"),
        clicks=_D.clicks + bindparam("k_clicks"),
        first_opened_at=func.coalesce(
            _D.first_opened_at, bindparam("k_opened", type_=_D.first_opened_at.type)
        ),
        first_clicked_at=func.coalesce(
            _D.first_clicked_at, bindparam("k_clicked", type_=_D.first_clicked_at.type)
        ),
        complained_at=func.coalesce(
            _D.complained_at, bindparam("k_complained", type_=_D.complained_at.type)
        ),
    )
)


@dataclass(frozen=True)
class EventsResult:
    """How many events were new, duplicates, or about no delivery of ours."""

    applied: int = 0
    duplicates: int = 0
    unmatched: int = 0

    def __add__(self, other: EventsResult) -> EventsResult:
        """Both results' counts added up."""
        return EventsResult(
            self.applied + other.applied,
            self.duplicates + other.duplicates,
            self.unmatched + other.unmatched,
        )


@dataclass(frozen=True)
class InboxResult:
    """What one ``apply_pending`` call did."""

    posts: int = 0
    events: EventsResult = EventsResult()
    busy: bool = False  # another applier held the inbox; it applies what was pending
    more: bool = False  # the time budget ran out with posts still pending


@dataclass(frozen=True)
class _Target:
    """A delivery an event names: its id, state and the subscription it was sent for."""

    id: int
    state: DeliveryState
    subscriber_id: int
    list_id: int


@dataclass
class _Fold:
    """The effect of one set's events on one delivery, folded in arrival order."""

    target: _Target
    events: list[ProviderEvent] = field(default_factory=list)
    state: DeliveryState = DeliveryState.QUEUED
    error: str | None = None
    opens: int = 0
    clicks: int = 0
    opened: datetime | None = None
    clicked: datetime | None = None
    complained: datetime | None = None

    def fold_states(self, start: DeliveryState) -> None:
        """Replay this set's state-moving events from ``start``, forward only."""
        self.state, self.error = start, None
        for event in self.events:
            target = MOVES.get(event.kind)
            if target is not None and can_move(self.state, target):
                self.state = target
                if event.reason and target in _WITH_REASON:
                    self.error = event.reason[:_ERROR_LIMIT]

    def count(self, event: ProviderEvent) -> None:
        """Count an engagement event (open, click, spam report)."""
        if event.kind is EventKind.OPEN:
            self.opens += 1
            self.opened = self.opened or event.timestamp
        elif event.kind is EventKind.CLICK:
            self.clicks += 1
            self.clicked = self.clicked or event.timestamp
        elif event.kind is EventKind.SPAMREPORT:
            self.complained = self.complained or event.timestamp


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 19 else None


def _key(event: ProviderEvent) -> tuple[int, int] | None:
    digest_id, subscriber_id = _int(event.edition_id), _int(event.subscriber_id)
    if digest_id is None or subscriber_id is None:
        return None
    return digest_id, subscriber_id


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def private_free(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The raw event without the reader's IP address and user agent."""
    return {key: value for key, value in raw.items() if key not in PRIVATE_FIELDS}


def apply_events(
    session: Session,
    events: Sequence[ProviderEvent],
    raw: Mapping[str, Mapping[str, Any]],
    *,
    now: datetime | None = None,
) -> EventsResult:
    """Store and apply a set of events once each, in order; ``raw``: ``sg_event_id`` → event."""
    now = now or utcnow()
    unique: dict[str, ProviderEvent] = {}
    for event in events:
        unique.setdefault(event.sg_event_id, event)
    known = _known(session, list(unique))
    fresh = [event for event_id, event in unique.items() if event_id not in known]
    _confirm_batches(session, fresh, now)
    keyed = [(event, _key(event)) for event in fresh]
    targets = _targets(session, keyed)
    stored = _store(session, keyed, targets, raw, now)
    keyed = [(event, key) for event, key in keyed if event.sg_event_id in stored]
    fresh = [event for event, _ in keyed]
    _suppress(session, fresh)
    unmatched = _apply(session, keyed, targets, now)
    return EventsResult(len(fresh) - unmatched, len(events) - len(fresh), unmatched)


def _known(session: Session, event_ids: list[str]) -> set[str]:
    known: set[str] = set()
    for chunk in _chunks(event_ids):
        known.update(
            session.scalars(
                select(DeliveryEvent.sg_event_id).where(DeliveryEvent.sg_event_id.in_(chunk))
            )
        )
    return known


def _confirm_batches(session: Session, events: list[ProviderEvent], now: datetime) -> None:
    """Accept the batches these events prove the provider took (before reading deliveries)."""
    batch_ids = {_int(e.batch_id) for e in events if e.kind in CONFIRMING}
    for batch_id in sorted(b for b in batch_ids if b is not None):
        confirm_batch(session, batch_id, now=now)


def _targets(session: Session, keyed: Keyed) -> dict[tuple[int, int], _Target]:
    """The deliveries the events name: one indexed lookup per edition."""
    wanted: dict[int, set[int]] = {}
    for _, key in keyed:
        if key is not None:
            wanted.setdefault(key[0], set()).add(key[1])
    found: dict[tuple[int, int], _Target] = {}
    # The state as its stored text, mapped here: cheaper than the Enum type's processing.
    state = type_coerce(Delivery.state, String())
    for digest_id, subscriber_ids in wanted.items():
        for chunk in _chunks(sorted(subscriber_ids)):
            rows = session.execute(
                select(Delivery.id, Delivery.subscriber_id, Delivery.list_id, state).where(
                    Delivery.digest_id == digest_id, Delivery.subscriber_id.in_(chunk)
                )
            )
            for delivery_id, subscriber_id, list_id, value in rows:
                found[digest_id, subscriber_id] = _Target(
                    delivery_id, _STATES[value], subscriber_id, list_id
                )
    return found


def _store(
    session: Session,
    keyed: Keyed,
    targets: Mapping[tuple[int, int], _Target],
    raw: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> set[str]:
    """Insert the events (nothing on a known ``sg_event_id``); the ids this call stored.

    Straight to the driver, one statement (PostgreSQL: arrays unnested) or one
    executemany (SQLite), with the JSON encoded here once per event.
    """
    if not keyed:
        return set()
    ids, kinds, deliveries, bodies = [], [], [], []
    for event, key in keyed:
        target = targets.get(key) if key is not None else None
        ids.append(event.sg_event_id)
        kinds.append(event.name[:32] or event.kind.value)
        deliveries.append(target.id if target is not None else None)
        bodies.append(json.dumps(private_free(raw.get(event.sg_event_id, {}))))
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(_INSERT_PG, (now, ids, kinds, deliveries, bodies))
        return {row[0] for row in rows}
    stamp = _EVENTS.c.received_at.type._cached_bind_processor(connection.dialect)
    at = stamp(now) if stamp is not None else now
    connection.exec_driver_sql(
        _INSERT_SQLITE, [(*row, at) for row in zip(ids, kinds, deliveries, bodies, strict=True)]
    )
    # The applier lock keeps other writers of events out, so every id not known before
    # (``_known``) was inserted now.
    return set(ids)


def _suppress(session: Session, events: list[ProviderEvent]) -> None:
    """Suppress every hard-bounced or complaining address once (the first reason is kept)."""
    wanted: dict[str, tuple[str, SuppressionReason, str]] = {}
    for event in events:
        if event.kind is EventKind.BOUNCE and event.bounce_type == HARD_BOUNCE:
            reason = SuppressionReason.HARD_BOUNCE
        elif event.kind is EventKind.SPAMREPORT:
            reason = SuppressionReason.SPAM_REPORT
        else:
            continue
        try:
            email = normalise_email(event.email)
        except InvalidInputError:
            continue  # an address we could never have sent to; nothing to suppress
        wanted.setdefault(email_hash(email), (email, reason, f"SendGrid {event.name} event"))
    if not wanted:
        return
    hashes = list(wanted)
    present = set(
        session.scalars(select(Suppression.email_hash).where(Suppression.email_hash.in_(hashes)))
    )
    rows = [
        {"email_hash": h, "email": email, "reason": reason, "note": note}
        for h, (email, reason, note) in wanted.items()
        if h not in present
    ]
    if rows:
        session.execute(insert(Suppression), rows)


def _apply(
    session: Session,
    keyed: Keyed,
    targets: Mapping[tuple[int, int], _Target],
    now: datetime,
) -> int:
    """Fold the events per delivery and write the results; returns how many were unmatched."""
    folds: dict[int, _Fold] = {}
    unsubscribes: dict[tuple[int, int], str] = {}
    unmatched = 0
    for event, key in keyed:
        target = targets.get(key) if key is not None else None
        if target is None:
            unmatched += 1
            continue
        fold = folds.get(target.id)
        if fold is None:
            fold = folds[target.id] = _Fold(target)
        if event.kind in MOVES:
            fold.events.append(event)
        elif event.kind in _UNSUBSCRIBING:
            unsubscribes.setdefault((target.subscriber_id, target.list_id), event.name)
        else:
            fold.count(event)
    for fold in folds.values():
        fold.fold_states(fold.target.state)
    _write_moves(session, [f for f in folds.values() if f.state != f.target.state], now)
    counts = [
        {
            "k_id": f.target.id,
            "k_opens": f.opens,
            "k_clicks": f.clicks,
            "k_opened": f.opened,
            "k_clicked": f.clicked,
            "k_complained": f.complained,
        }
        for f in folds.values()
        if f.opens or f.clicks or f.complained
    ]
    if counts:
        session.execute(_COUNT, counts, execution_options={"synchronize_session": False})
    for (subscriber_id, list_id), name in unsubscribes.items():
        evidence = Evidence(ConsentSource.EMAIL, text=f"SendGrid {name} event")
        try:
            unsubscribe(session, TokenSubject(subscriber_id, list_id), evidence, now=now)
        except NotFoundError:
            continue  # the subscriber was erased meanwhile
    return unmatched


def _move_row(fold: _Fold, seen: DeliveryState, now: datetime) -> dict[str, Any]:
    return {
        "k_id": fold.target.id,
        "k_seen": seen,
        "k_state": fold.state,
        "k_error": fold.error,
        "k_now": now,
    }


def _write_moves(session: Session, folds: list[_Fold], now: datetime) -> None:
    """Write the folded states, each only if its delivery is still as read (else refold)."""
    if not folds:
        return
    rows = [_move_row(f, f.target.state, now) for f in folds]
    result = session.execute(_MOVE, rows, execution_options={"synchronize_session": False})
    if result.rowcount == len(rows):  # type: ignore[attr-defined]
        return
    # A worker moved some of them meanwhile (PostgreSQL): replay their events from the
    # state found now. A delivery already written needs nothing: its replay moves no more.
    for fold in folds:
        for _ in range(RACE_RETRIES):
            current = session.scalar(select(Delivery.state).where(Delivery.id == fold.target.id))
            if current is None:
                break
            fold.fold_states(current)
            if fold.state == current:
                break
            moved = session.execute(
                _MOVE,
                [_move_row(fold, current, now)],
                execution_options={"synchronize_session": False},
            )
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                break


def apply_posts(session: Session, posts: Sequence[PendingPost], *, now: datetime) -> EventsResult:
    """Apply the events of these posts, in order, as one set."""
    events: list[ProviderEvent] = []
    raw: dict[str, Mapping[str, Any]] = {}
    for post in posts:
        try:
            parsed = parse_with_raw(post.body)
        except InvalidInputError as exc:  # validated when stored: only if the parser changed
            log.error("webhook post %d cannot be applied and is skipped: %s", post.id, exc)
            continue
        for event, item in parsed:
            events.append(event)
            raw.setdefault(event.sg_event_id, item)
    return apply_events(session, events, raw, now=now)


def apply_pending(
    database: Database, *, set_size: int = SET_SIZE, time_budget: float | None = None
) -> InboxResult:
    """Apply every pending post, a set per transaction, in arrival order.

    Returns early (``busy``) if another applier holds the inbox: it is applying, and
    it looks again once it lets go, so nothing stored before this call is left
    behind. With ``time_budget`` (seconds) it stops after the set that overran it.
    """
    started = time.monotonic()
    posts, total = 0, EventsResult()
    while True:
        now = utcnow()
        with database.session() as session:
            taken = take_pending(session, max_events=set_size, now=now)
            result = apply_posts(session, taken, now=now) if taken else None
        if taken is None:
            return InboxResult(posts, total, busy=True)
        if result is not None:
            posts, total = posts + len(taken), total + result
            if time_budget is not None and time.monotonic() - started > time_budget:
                return InboxResult(posts, total, more=True)
            continue
        # Nothing was pending under the lock. A post stored while it was held may have
        # found its own applier turned away: look once more, now that it is released.
        with database.session() as session:
            if pending_posts(session):
                continue
            if posts:
                prune(session, now=now)
        return InboxResult(posts, total)
