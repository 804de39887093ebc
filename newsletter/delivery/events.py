"""Applying provider events to the ledger in sets: once each, through the delivery state machine.

The webhook only stores verified posts (``inbox``); ``apply_pending`` takes the
pending posts in arrival order and applies their events a set at a time, with a
few set statements per set whatever its size (``events_sql``): one insert of the
events that also finds the deliveries they name (``sg_event_id`` is unique, so a
retried or replayed post inserts nothing and is applied once), one read of those
deliveries, one UPDATE for the state moves and one for the counters. Events that
name no delivery of ours are stored and counted as unmatched (test sends, other
senders). Each event's JSON is read once, into columns (``EventColumns``); only
the few events that need more (a bounce's reason, an open's time) are looked at
again.

What each event does: ``processed`` / ``delivered`` / ``deferred`` / ``bounce`` /
``dropped`` move the delivery forward only (and confirm a batch whose answer was
lost or that the provider holds until its ``send_at``); several events about one
delivery in one set are folded in arrival order through the transition table, so
``delivered`` then ``bounce`` ends ``bounced`` and a late ``processed`` changes
nothing. Hard bounces and spam reports suppress the address, ``unsubscribe`` ends
the subscription the message was sent for, once per distinct address or
subscription; ``open`` and ``click`` are counted. ``group_unsubscribe`` and
``group_resubscribe`` carry the SendGrid unsubscribe group (``asm_group_id``): where
it is the message's publication's group of a kind of mail (``digest_group_id``,
``alert_group_id``), that kind is left or taken again for that subscription, with a
consent row each (leaving the last kind ends it); a ``group_unsubscribe`` from any
other group ends the subscription, as before kinds existed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Text, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from newsletter.content.edition import MailKind
from newsletter.db import Database, utcnow
from newsletter.delivery.events_sql import (
    Counts,
    Fresh,
    Moves,
    insert_events,
    write_counts,
    write_moves,
)
from newsletter.delivery.inbox import PendingPost, pending_posts, prune, take_pending
from newsletter.delivery.models import (
    DELIVERY_TRANSITIONS,
    BatchState,
    Delivery,
    DeliveryState,
    SendBatch,
    sources,
)
from newsletter.delivery.webhook import (
    EventColumns,
    batch_numbers,
    is_hard_bounce,
    load_events,
    reason_of,
    time_of,
)
from newsletter.digests.models import Digest
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.publications.models import Publication
from subscribers.addresses import email_hash, normalise_email
from subscribers.models import ConsentSource, Suppression, SuppressionReason
from subscribers.services import join_kind, leave_kind, subscription_for, unsubscribe
from subscribers.tokens import TokenSubject
from subscribers.transitions import Evidence

log = logging.getLogger(__name__)

# SendGrid event names that move a delivery, and where to.
MOVES = {
    "processed": DeliveryState.ACCEPTED,
    "delivered": DeliveryState.DELIVERED,
    "deferred": DeliveryState.DEFERRED,
    "bounce": DeliveryState.BOUNCED,
    "dropped": DeliveryState.DROPPED,
}
# Events that can only follow an accepted request, so they prove a lost answer was a yes.
CONFIRMING = frozenset(MOVES)
# The transition table by stored value: folding compares the states as read, as text.
_MOVE_TO = {name: state.value for name, state in MOVES.items()}
_NEXT = {state.value: {t.value for t in to} for state, to in DELIVERY_TRANSITIONS.items()}
_WITH_REASON = frozenset({DeliveryState.BOUNCED.value, DeliveryState.DROPPED.value})
_UNSUBSCRIBING = frozenset({"unsubscribe"})
_GROUP_EVENTS = frozenset({"group_unsubscribe", "group_resubscribe"})
_COUNTED = {"open": 2, "click": 3, "spamreport": 4}  # the slot of its first time in a count
# Events per applying transaction: short enough that a webhook post waiting for
# SQLite's write lock is not kept long, large enough that per-set costs vanish.
SET_SIZE = 2000
RACE_RETRIES = 5
_ERROR_LIMIT = 2000
_STATES = {state.value: state for state in DeliveryState}

_DELIVERIES = cast(Table, Delivery.__table__)
_BATCHES = cast(Table, SendBatch.__table__)
_D = _DELIVERIES.c
_B = _BATCHES.c
# Confirming batches: those the transition table lets become accepted, then their
# recipients that may (never a failed one: only ``resend`` revives those).
_CONFIRM = (
    update(_BATCHES)
    .where(
        _B.id.in_(bindparam("ids", expanding=True)),
        _B.state.in_(sources(BatchState.ACCEPTED)),
    )
    .values(state=BatchState.ACCEPTED, lease_until=None, updated_at=bindparam("now"))
    .returning(_B.id)
)
_ACCEPT = (
    update(_DELIVERIES)
    .where(
        _D.batch_id.in_(bindparam("ids", expanding=True)),
        _D.state.in_([s for s in sources(DeliveryState.ACCEPTED) if s is not DeliveryState.FAILED]),
    )
    .values(state=DeliveryState.ACCEPTED, updated_at=bindparam("now"))
    .returning(_D.id)
)
# One delivery a worker moved after the set read it (rare): written alone, if still as read.
_MOVE = (
    update(_DELIVERIES)
    .where(_D.id == bindparam("k_id"), _D.state == bindparam("k_seen", type_=_D.state.type))
    .values(
        state=bindparam("k_state", type_=_D.state.type),
        last_error=func.coalesce(bindparam("k_error", type_=Text), _D.last_error),
        updated_at=bindparam("k_now", type_=_D.updated_at.type),
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


def apply_posts(session: Session, posts: Sequence[PendingPost], *, now: datetime) -> EventsResult:
    """Apply the events of these posts, in order, as one set."""
    columns = EventColumns()
    for post in posts:
        try:
            columns.add(load_events(post.body))
        except InvalidInputError as exc:  # checked when stored: only if the checks changed
            log.error("webhook post %d cannot be applied and is skipped: %s", post.id, exc)
    return apply_events(session, columns, now=now)


def apply_events(session: Session, columns: EventColumns, *, now: datetime) -> EventsResult:
    """Store and apply a set of events once each, in arrival order."""
    if not columns.ids:
        return EventsResult(duplicates=columns.read)
    fresh = insert_events(session.connection(), columns, now)
    _confirm_batches(session, columns, fresh, now)
    fresh = _targets(session, fresh)
    _suppress(session, columns, fresh.events)
    unmatched = _apply(session, columns, fresh, now)
    applied = len(fresh.events) - unmatched
    return EventsResult(applied, columns.read - len(fresh.events), unmatched)


def _confirm_batches(session: Session, columns: EventColumns, fresh: Fresh, now: datetime) -> None:
    """Accept the batches these events prove the provider took, and their claimed readers.

    Only batches the transition table lets become accepted move; the readers they
    accept are then seen as accepted by the events of this set.
    """
    names, items = columns.names, columns.items
    batch_ids = batch_numbers(items[i] for i in fresh.events if names[i] in CONFIRMING)
    if not batch_ids:
        return
    moved = session.scalars(_CONFIRM, {"ids": sorted(batch_ids), "now": now}).all()
    if not moved:
        return
    accepted = set(session.scalars(_ACCEPT, {"ids": moved, "now": now}))
    states = fresh.states
    for k, delivery_id in enumerate(fresh.deliveries):
        if delivery_id in accepted:
            states[k] = DeliveryState.ACCEPTED.value


def _targets(session: Session, fresh: Fresh) -> Fresh:
    """The set's new events with their deliveries as read (a test hook: a worker races here)."""
    return fresh


def _suppress(session: Session, columns: EventColumns, fresh: list[int]) -> None:
    """Suppress every hard-bounced or complaining address once (the first reason is kept)."""
    wanted: dict[str, tuple[str, SuppressionReason, str]] = {}
    names, items = columns.names, columns.items
    for i in fresh:
        name = names[i]
        if name == "bounce" and is_hard_bounce(items[i]):
            reason = SuppressionReason.HARD_BOUNCE
        elif name == "spamreport":
            reason = SuppressionReason.SPAM_REPORT
        else:
            continue
        try:
            email = normalise_email(str(items[i]["email"]))
        except InvalidInputError:
            continue  # an address we could never have sent to; nothing to suppress
        wanted.setdefault(email_hash(email), (email, reason, f"SendGrid {name} event"))
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


def _fold(columns: EventColumns, events: list[int], start: str) -> tuple[str, str | None]:
    """Replay one delivery's state-moving events from ``start``, forward only: (state, error)."""
    state, error = start, None
    names, items = columns.names, columns.items
    for i in events:
        to = _MOVE_TO[names[i]]
        if to in _NEXT[state]:
            state = to
            if to in _WITH_REASON:
                reason = reason_of(items[i])
                if reason:
                    error = reason[:_ERROR_LIMIT]
    return state, error


def _apply(session: Session, columns: EventColumns, fresh: Fresh, now: datetime) -> int:
    """Fold the events per delivery and write the results; returns how many were unmatched."""
    folds: dict[int, list[int]] = {}
    seen: dict[int, str] = {}
    counts: dict[int, list[Any]] = {}
    unsubscribes: dict[int, str] = {}
    unmatched = 0
    names, items = columns.names, columns.items
    for i, delivery_id, state in zip(fresh.events, fresh.deliveries, fresh.states, strict=True):
        if delivery_id is None or state is None:
            unmatched += 1
            continue
        name = names[i]
        if name in _MOVE_TO:
            events = folds.get(delivery_id)
            if events is None:
                folds[delivery_id], seen[delivery_id] = [i], state
            else:
                events.append(i)
        elif name in _COUNTED:
            count = counts.get(delivery_id)
            if count is None:
                count = counts[delivery_id] = [0, 0, None, None, None]
            slot = _COUNTED[name]
            if slot < 4:
                count[slot - 2] += 1
            if count[slot] is None:
                count[slot] = time_of(items[i])
        elif name in _UNSUBSCRIBING:
            unsubscribes.setdefault(delivery_id, name)
    moves = Moves([], [], [], [])
    for delivery_id, events in folds.items():
        before = seen[delivery_id]
        state, error = _fold(columns, events, before)
        if state != before:
            moves.ids.append(delivery_id)
            moves.seen.append(before)
            moves.states.append(state)
            moves.errors.append(error)
    _write_moves(session, columns, folds, moves, now)
    write_counts(session.connection(), _columns(counts))
    _unsubscribe(session, unsubscribes, now)
    _group_changes(session, columns, fresh, now)
    return unmatched


def _columns(counts: dict[int, list[Any]]) -> Counts:
    """The counts per delivery as columns."""
    columns = Counts([], [], [], [], [], [])
    for delivery_id, (opens, clicks, opened, clicked, complained) in counts.items():
        columns.ids.append(delivery_id)
        columns.opens.append(opens)
        columns.clicks.append(clicks)
        columns.opened.append(opened)
        columns.clicked.append(clicked)
        columns.complained.append(complained)
    return columns


def _unsubscribe(session: Session, unsubscribes: dict[int, str], now: datetime) -> None:
    """End the subscription each delivery was sent for, once per subscription."""
    if not unsubscribes:
        return
    rows = session.execute(
        select(_D.id, _D.subscriber_id, _D.list_id).where(_D.id.in_(list(unsubscribes)))
    ).all()
    subscriptions = {row[0]: (row[1], row[2]) for row in rows}
    done: set[tuple[int, int]] = set()
    for delivery_id, name in unsubscribes.items():  # in arrival order
        subscription = subscriptions.get(delivery_id)
        if subscription is None or subscription in done:
            continue
        done.add(subscription)
        evidence = Evidence(ConsentSource.EMAIL, text=f"SendGrid {name} event")
        try:
            unsubscribe(session, TokenSubject(*subscription), evidence, now=now)
        except NotFoundError:
            continue  # the subscriber was erased meanwhile


def _group_changes(session: Session, columns: EventColumns, fresh: Fresh, now: datetime) -> None:
    """Apply unsubscribe-group events in arrival order to the kind of mail their group is."""
    groups = [
        (delivery_id, i)
        for i, delivery_id in zip(fresh.events, fresh.deliveries, strict=True)
        if delivery_id is not None and columns.names[i] in _GROUP_EVENTS
    ]
    if not groups:
        return
    rows = session.execute(
        select(_D.id, _D.subscriber_id, _D.list_id, Publication.digest_group_id)
        .add_columns(Publication.alert_group_id)
        .join(Digest, Digest.id == _D.digest_id)
        .join(Publication, Publication.id == Digest.publication_id)
        .where(_D.id.in_({delivery_id for delivery_id, _ in groups}))
    ).all()
    found = {row[0]: row[1:] for row in rows}
    for delivery_id, i in groups:
        if delivery_id not in found:
            continue
        subscriber_id, list_id, digest_group, alert_group = found[delivery_id]
        name, group = columns.names[i], columns.items[i].get("asm_group_id")
        kinds = {digest_group: MailKind.DIGEST, alert_group: MailKind.ALERT}
        kind = kinds.get(group) if type(group) is int and group else None
        evidence = Evidence(ConsentSource.EMAIL, text=f"SendGrid {name} event, group {group}")
        try:
            subscription = subscription_for(session, TokenSubject(subscriber_id, list_id))
        except NotFoundError:
            continue  # the subscriber was erased meanwhile
        if kind is None:
            if name == "group_unsubscribe":  # a group of no kind: the whole subscription
                unsubscribe(session, TokenSubject(subscriber_id, list_id), evidence, now=now)
        elif name == "group_unsubscribe":
            leave_kind(session, subscription, kind, evidence, now=now)
        else:
            join_kind(session, subscription, kind, evidence, now=now)


def _write_moves(
    session: Session,
    columns: EventColumns,
    folds: dict[int, list[int]],
    moves: Moves,
    now: datetime,
) -> None:
    """Write the folded states, each only if its delivery is still as read (else refold)."""
    written = write_moves(session.connection(), moves, now)
    # A worker moved some of them meanwhile (PostgreSQL): replay their events from the
    # state found now. A delivery already written needs nothing: its replay moves no more.
    for delivery_id in moves.ids:
        if delivery_id in written:
            continue
        for _ in range(RACE_RETRIES):
            current = session.scalar(select(_D.state).where(_D.id == delivery_id))
            if current is None:
                break
            state, error = _fold(columns, folds[delivery_id], current.value)
            if state == current.value:
                break
            row = {
                "k_id": delivery_id,
                "k_seen": current,
                "k_state": _STATES[state],
                "k_error": error,
                "k_now": now,
            }
            if session.execute(_MOVE, row).rowcount == 1:  # type: ignore[attr-defined]
                break


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
