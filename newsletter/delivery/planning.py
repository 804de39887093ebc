"""Who gets an edition, who does not and why, and how recipients are cut into requests.

Pure functions over plain values: the ledger streams subscription rows from the
database through ``select_recipients`` and ``iter_batches`` without ever holding a
whole list in memory, and tests call them directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from newsletter.delivery.models import SkipReason
from newsletter.providers.interfaces import MAX_RECIPIENTS_PER_BATCH
from subscribers.models import SubscriptionState


@dataclass(frozen=True, slots=True)
class Candidate:
    """One subscription on the edition's list, as read from the database."""

    subscriber_id: int
    list_id: int
    email: str
    state: SubscriptionState
    topics: tuple[str, ...] = ()
    paused_until: datetime | None = None
    suppressed: bool = False


@dataclass(frozen=True, slots=True)
class Selection:
    """The verdict on one candidate: send (``skip`` is None) or skip, with the reason."""

    subscriber_id: int
    list_id: int
    email: str
    skip: SkipReason | None = None


def skip_reason(
    candidate: Candidate, edition_topics: frozenset[str], now: datetime
) -> SkipReason | None:
    """Why ``candidate`` must not get the edition, or None if it should.

    ``edition_topics`` are the case-folded topics of the edition's briefings. The
    checks run from the strongest reason to the weakest, so a suppressed address
    that also unsubscribed is counted once, as suppressed.
    """
    if candidate.suppressed:
        return SkipReason.SUPPRESSED
    if candidate.state is SubscriptionState.UNSUBSCRIBED:
        return SkipReason.UNSUBSCRIBED
    if candidate.state is not SubscriptionState.CONFIRMED:
        return SkipReason.UNCONFIRMED
    if candidate.paused_until is not None and candidate.paused_until > now:
        return SkipReason.PAUSED
    if candidate.topics and not any(t.casefold() in edition_topics for t in candidate.topics):
        return SkipReason.NO_MATCHING_TOPIC
    return None


def select_recipients(
    candidates: Iterable[Candidate], edition_topics: Iterable[str], now: datetime
) -> Iterator[Selection]:
    """A verdict for every candidate, in order, lazily."""
    topics = frozenset(topic.casefold() for topic in edition_topics)
    for candidate in candidates:
        yield Selection(
            subscriber_id=candidate.subscriber_id,
            list_id=candidate.list_id,
            email=candidate.email,
            skip=skip_reason(candidate, topics, now),
        )


def iter_batches(
    recipients: Iterable[Selection], size: int = MAX_RECIPIENTS_PER_BATCH
) -> Iterator[list[Selection]]:
    """Cut recipients to send into lists of at most ``size``, no address twice in one list.

    An address already in the open batch (the same person on two rows, which the
    unique subscriber address normally prevents) waits for the next batch, so each
    request stays valid for the provider.
    """
    if not 1 <= size <= MAX_RECIPIENTS_PER_BATCH:
        raise ValueError(f"size must be between 1 and {MAX_RECIPIENTS_PER_BATCH}, got {size}")
    current: list[Selection] = []
    seen: set[str] = set()
    waiting: list[Selection] = []
    for recipient in recipients:
        if recipient.skip is not None:
            continue
        key = recipient.email.casefold()
        if key in seen:
            waiting.append(recipient)
            continue
        current.append(recipient)
        seen.add(key)
        while len(current) == size:
            yield current
            # The addresses that had to wait go first into the fresh batch.
            current, seen, waiting = _refill(waiting, size)
    while current or waiting:
        yield current
        current, seen, waiting = _refill(waiting, size)


def _refill(
    pending: list[Selection], size: int
) -> tuple[list[Selection], set[str], list[Selection]]:
    current: list[Selection] = []
    seen: set[str] = set()
    rest: list[Selection] = []
    for held in pending:
        key = held.email.casefold()
        if key in seen or len(current) == size:
            rest.append(held)
        else:
            current.append(held)
            seen.add(key)
    return current, seen, rest
