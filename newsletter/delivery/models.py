"""Dispatch ledger tables: one delivery per (digest, subscriber), one batch per request, events.

Three state machines, each an enum with an explicit transition table:

``DeliveryState`` (one recipient of one edition)::

    queued ──claim──▶ claimed ──provider said yes──▶ accepted ──▶ delivered / deferred /
     ▲ ▲                │ │                            ▲          bounced / dropped
     │ │                │ └──provider holds it until send_at──▶ scheduled ──released──┘
     │ │                │                                          │
     │ └──retry later───┴──────────group cancelled, send again─────┘
     │                  └──refused for good, or past the deadline──▶ failed (reason, kind)
     │                                                                 │
     └────────resend: only failure=transient, only before deliver_by──┘
    skipped (with reason; never sent, never leaves this state)

A failed delivery leaves ``failed`` in one way only: ``digest resend`` moves those
whose failure was *transient* (the provider unreachable or busy until the deadline)
back to ``queued`` in new batches, while the edition is fresh. ``move_recipients``
never moves a failed recipient, so a retried or reconciled batch cannot revive one.

``BatchState`` (one provider request)::

    planned ──claim──▶ sending ──▶ accepted | failed
       ▲                  │ ├──answer with a send_at ahead──▶ scheduled ──released──▶ accepted
       │                  │ └──no answer / lease ran out──▶ unknown ──events──▶ accepted
       └──retryable, or ──┘                                   │
          group cancelled ◀───────────────────────────────────┘ (or window passed: planned once,
                                                                   then failed)

A ``ProviderGroup`` is one SendGrid batch id: the requests of an edition sent ahead of
its delivery instant with a ``send_at``, which SendGrid can still cancel as a whole
until ten minutes before that instant (see ``docs/delivery.md``)::

    open ──an answer was lost──▶ cancelling ──cancel confirmed──▶ cancelled (sent again)
      │                            └──cutoff passed, not confirmed──▶ released
      ├──the edition was cancelled──▶ withdrawing ──confirmed──▶ withdrawn (sent to nobody)
      └──send_at passed──▶ released

A ``DeliveryEvent`` is one SendGrid webhook event, unique on ``sg_event_id`` so
that a webhook retried by SendGrid, or replayed, is applied once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db import Base, UTCDateTime, enum_column, utcnow
from newsletter.errors import TransitionError


class DeliveryState(StrEnum):
    """Where one recipient of one edition stands."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    SCHEDULED = "scheduled"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    DROPPED = "dropped"
    FAILED = "failed"
    SKIPPED = "skipped"


class SkipReason(StrEnum):
    """Why a subscriber of the list does not get an edition (recorded and counted)."""

    UNCONFIRMED = "unconfirmed"
    UNSUBSCRIBED = "unsubscribed"
    SUPPRESSED = "suppressed"
    NO_MATCHING_TOPIC = "no_matching_topic"
    PAUSED = "paused"
    ALREADY_SENT = "already_sent"


class BatchState(StrEnum):
    """Where one provider request stands."""

    PLANNED = "planned"
    SENDING = "sending"
    SCHEDULED = "scheduled"
    ACCEPTED = "accepted"
    UNKNOWN = "unknown"
    FAILED = "failed"


class FailureKind(StrEnum):
    """Whether a failed recipient could be sent again (transient) or was refused for good."""

    TRANSIENT = "transient"  # the provider was unreachable or busy until the deadline passed
    PERMANENT = "permanent"  # the provider refused the address or the request


class GroupState(StrEnum):
    """Where one provider batch id (a cancellable group of scheduled requests) stands."""

    OPEN = "open"
    CANCELLING = "cancelling"  # an answer was lost: cancel, then send again
    CANCELLED = "cancelled"
    WITHDRAWING = "withdrawing"  # the edition was cancelled: cancel, and send nothing
    WITHDRAWN = "withdrawn"
    RELEASED = "released"


_D = DeliveryState
_AFTER_ACCEPT = frozenset({_D.DELIVERED, _D.DEFERRED, _D.BOUNCED, _D.DROPPED})

# A claimed recipient may jump straight to an event's state: the event itself proves
# the provider accepted the request whose answer we never recorded.
DELIVERY_TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    _D.QUEUED: frozenset({_D.CLAIMED}),
    _D.CLAIMED: frozenset({_D.QUEUED, _D.SCHEDULED, _D.ACCEPTED, _D.FAILED} | _AFTER_ACCEPT),
    # The provider holds a scheduled message until its send_at: released, it is accepted
    # (or an event about it arrives first); its group cancelled, it is queued again.
    _D.SCHEDULED: frozenset({_D.QUEUED, _D.ACCEPTED, _D.FAILED} | _AFTER_ACCEPT),
    _D.ACCEPTED: _AFTER_ACCEPT,
    _D.DEFERRED: _AFTER_ACCEPT,
    # Mailbox providers sometimes bounce after first saying "delivered".
    _D.DELIVERED: frozenset({_D.BOUNCED}),
    _D.BOUNCED: frozenset(),
    _D.DROPPED: frozenset(),
    # Only ``digest resend`` takes this move, and only for failure=transient.
    _D.FAILED: frozenset({_D.QUEUED}),
    # Only the same-day catch-up takes this move (``catchup``), for a reader skipped as
    # unconfirmed, unsubscribed or suppressed who confirmed after the edition went out.
    _D.SKIPPED: frozenset({_D.QUEUED}),
}

# Recipients the provider took: they count as sent in the digest's final state.
SENT_STATES = frozenset({_D.ACCEPTED} | _AFTER_ACCEPT)
# Recipients whose message never left or was refused: they make an edition fail.
FAILED_STATES = frozenset({_D.FAILED})

_B = BatchState
BATCH_TRANSITIONS: dict[BatchState, frozenset[BatchState]] = {
    _B.PLANNED: frozenset({_B.SENDING}),
    _B.SENDING: frozenset({_B.PLANNED, _B.SCHEDULED, _B.ACCEPTED, _B.UNKNOWN, _B.FAILED}),
    _B.SCHEDULED: frozenset({_B.ACCEPTED, _B.PLANNED, _B.FAILED}),
    _B.UNKNOWN: frozenset({_B.ACCEPTED, _B.SCHEDULED, _B.PLANNED, _B.FAILED}),
    _B.ACCEPTED: frozenset(),
    _B.FAILED: frozenset(),
}
OPEN_BATCH_STATES = frozenset({_B.PLANNED, _B.SENDING, _B.SCHEDULED, _B.UNKNOWN})

_G = GroupState
GROUP_TRANSITIONS: dict[GroupState, frozenset[GroupState]] = {
    _G.OPEN: frozenset({_G.CANCELLING, _G.WITHDRAWING, _G.RELEASED}),
    _G.CANCELLING: frozenset({_G.CANCELLED, _G.WITHDRAWING, _G.RELEASED}),
    # An editor's cancel reaches a group already cancelled for a lost answer too.
    _G.CANCELLED: frozenset({_G.WITHDRAWN}),
    _G.WITHDRAWING: frozenset({_G.WITHDRAWN, _G.RELEASED}),
    _G.WITHDRAWN: frozenset(),
    _G.RELEASED: frozenset(),
}

_State = TypeVar("_State", DeliveryState, BatchState, GroupState)


def can_move(current: DeliveryState, to: DeliveryState) -> bool:
    """Whether a delivery may go from ``current`` to ``to``."""
    return to in DELIVERY_TRANSITIONS[current]


def sources(to: _State, *, among: Iterable[_State] | None = None) -> list[_State]:
    """Every state that may move to ``to``: the ``WHERE state IN`` of a conditional UPDATE.

    ``among`` narrows the list to the states one caller moves from; naming a state
    the table does not let reach ``to`` raises ``TransitionError``, so an UPDATE can
    never allow a move the state machine forbids.
    """
    kind, table = _table(to)
    allowed = [state for state, targets in table.items() if to in targets]
    if among is None:
        return allowed
    chosen = list(among)
    for state in chosen:
        if state not in allowed:
            raise TransitionError(f"a {state.value} {kind} cannot become {to.value}")
    return [state for state in allowed if state in chosen]


_TABLES: dict[type[StrEnum], tuple[str, Any]] = {
    DeliveryState: ("delivery", DELIVERY_TRANSITIONS),
    BatchState: ("batch", BATCH_TRANSITIONS),
    GroupState: ("group", GROUP_TRANSITIONS),
}


def _table(to: _State) -> tuple[str, dict[_State, frozenset[_State]]]:
    kind, table = _TABLES[type(to)]
    return kind, cast("dict[_State, frozenset[_State]]", table)


class SendBatch(Base):
    """One provider request of a digest: up to 1000 recipients, claimed before the call.

    ``claim_token`` names the worker holding the claim, so a late answer from a
    worker whose lease ran out cannot overwrite what the next one recorded.
    """

    __tablename__ = "send_batches"
    __table_args__ = (
        UniqueConstraint("digest_id", "number"),
        Index("ix_send_batches_digest_id_state", "digest_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[BatchState] = mapped_column(
        enum_column(BatchState, "batch_state"), default=BatchState.PLANNED
    )
    size: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    resends: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    unknown_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    claim_token: Mapped[str | None] = mapped_column(String(32), default=None)
    # Set and committed just before the provider is called: a claim whose lease ran out
    # without it never reached the provider, so the batch is simply planned again.
    request_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Retryable failures are retried until then (the edition's freshness deadline).
    deliver_by: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # When the outstanding send_batch message for this batch is (or was) due to reach a
    # worker; the tick sends another only when the batch is due and changed since, or
    # the message is overdue (see ``newsletter.pipeline.tick.due_batches``).
    enqueued_for: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Every recipient of a batch gets the same email at the same instant: the edition's
    # topic variant (None: the full edition) and its zone group's delivery instant
    # (None: the edition's own time, or as soon as possible when sent by hand).
    variant_id: Mapped[int | None] = mapped_column(Integer, default=None)
    deliver_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The provider batch id this request was (or will be) sent under, when scheduled.
    group_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    provider_id: Mapped[str | None] = mapped_column(String(200), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ZoneGroup(Base):
    """The readers of an edition delivered at one local instant, and the zones they are in.

    Written when the edition is planned: readers in Europe/Paris and Europe/Berlin
    share the 07:00 instant and so one group. Editors see each group's instant,
    readers and state; the batches of the group carry its ``deliver_at``.
    """

    __tablename__ = "zone_groups"
    __table_args__ = (UniqueConstraint("digest_id", "deliver_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    deliver_at: Mapped[datetime] = mapped_column(UTCDateTime())
    zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    readers: Mapped[int] = mapped_column(Integer, default=0)


class ProviderGroup(Base):
    """One provider batch id: scheduled requests of an edition, cancellable together."""

    __tablename__ = "provider_groups"
    __table_args__ = (Index("ix_provider_groups_state_send_at", "state", "send_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    provider_batch_id: Mapped[str] = mapped_column(String(200), unique=True)
    send_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[GroupState] = mapped_column(
        enum_column(GroupState, "group_state"), default=GroupState.OPEN
    )
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # When a cancel was lifted again, long after send_at, to give back the provider's
    # budget of ten cancelled batch ids (the messages were discarded at send_at).
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ProviderBreaker(Base):
    """The circuit breaker of one provider, shared by every worker process (one row each).

    Closed while ``probe_at`` is None. ``failures`` counts consecutive transient failures
    across workers; at the threshold the breaker opens: nothing is sent until
    ``probe_at``, then one claim at a time (``probe_until``, its lease) may try. A
    success closes it; a failed probe opens it again for twice as long (``interval_s``).
    See ``newsletter.delivery.breaker``.
    """

    __tablename__ = "provider_breakers"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    probe_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    probe_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    interval_s: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One subscriber's copy of one edition; unique per (digest, subscriber)."""

    __tablename__ = "deliveries"
    # Few indexes, none on a column a send changes: PostgreSQL then rewrites a row in
    # place (a "HOT" update, no new index entries) when claiming and recording move
    # its state, a million times per edition, and the free 40 % of each page left by
    # the fill factor gives that room. Per-digest counts use the unique key's leading
    # ``digest_id``; a batch's rows are found by ``batch_id`` (a thousand of them).
    __table_args__ = (
        UniqueConstraint("digest_id", "subscriber_id"),
        Index("ix_deliveries_batch_id", "batch_id"),
        {"postgresql_with": {"fillfactor": 60}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys on this table, on purpose: planning inserts a million rows in one
    # statement, and PostgreSQL checks a key with a trigger and a lookup per row (three
    # times slower in all). Rows are only written for the digest planning holds locked,
    # into batches it has just made, and nothing deletes digests or batches. An erased
    # subscriber's deliveries stay, as anonymous counts.
    digest_id: Mapped[int] = mapped_column(Integer)
    subscriber_id: Mapped[int] = mapped_column(Integer)
    list_id: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # The topic variant of the edition this reader gets (None: the full edition).
    variant_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # A reader added after the edition went out (same-day catch-up at confirmation).
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    state: Mapped[DeliveryState] = mapped_column(
        enum_column(DeliveryState, "delivery_state"), default=DeliveryState.QUEUED
    )
    skip_reason: Mapped[SkipReason | None] = mapped_column(
        enum_column(SkipReason, "skip_reason"), default=None
    )
    provider_id: Mapped[str | None] = mapped_column(String(200), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    failure: Mapped[FailureKind | None] = mapped_column(
        enum_column(FailureKind, "failure_kind"), default=None
    )
    opens: Mapped[int] = mapped_column(Integer, default=0)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    first_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    first_clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    complained_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class DeliveryEvent(Base):
    """One provider event as received (IP address and user agent removed), applied once."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    sg_event_id: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    # No foreign key (migration events_0002): the applier takes the id from the row it
    # found in the same statement, nothing deletes deliveries, and the check cost a
    # trigger and a row lock per event.
    delivery_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
