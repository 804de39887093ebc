"""Who gets an edition, who does not and why, and how recipients are cut into requests.

Pure functions over plain values: the ledger streams subscription rows from the
database through ``select_recipients`` and ``iter_batches`` without ever holding a
whole list in memory, and tests call them directly.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TypeVar

from newsletter.delivery.models import SkipReason
from newsletter.localtime import local_instant
from newsletter.providers.interfaces import MAX_RECIPIENTS_PER_BATCH
from subscribers.models import SubscriptionState

K = TypeVar("K", bound=Hashable)


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
    zone: str | None = None  # the reader's own zone (None: the publication's)
    locale: str = ""  # the language the reader chose ("": none, the publication's default)


@dataclass(frozen=True, slots=True)
class Selection:
    """The verdict on one candidate: send (``skip`` is None) or skip, with the reason."""

    subscriber_id: int
    list_id: int
    email: str
    skip: SkipReason | None = None
    topics: tuple[str, ...] = ()
    zone: str | None = None
    locale: str = ""


@dataclass(frozen=True)
class Timing:
    """When each reader's copy of an edition is due.

    Either one instant for everyone (``due_at``: the scheduled time; None when an
    editor sends by hand, meaning now), or, for a publication that delivers in each
    reader's own time, ``send_time`` on ``local_day`` in the reader's zone (readers
    without one: ``default_zone``), with the daylight-saving rules of
    ``newsletter.localtime``.
    """

    due_at: datetime | None = None
    local_day: date | None = None
    send_time: time | None = None
    default_zone: str = "UTC"
    _instants: dict[str, datetime] = field(default_factory=dict, compare=False, repr=False)

    @property
    def local(self) -> bool:
        """Whether readers in different zones get the edition at different instants."""
        return self.local_day is not None and self.send_time is not None

    def deliver_at(self, zone: str | None) -> datetime | None:
        """The instant a reader in ``zone`` gets the edition (None: as soon as it is sent)."""
        if self.local_day is None or self.send_time is None:
            return self.due_at
        name = zone or self.default_zone
        instant = self._instants.get(name)
        if instant is None:
            instant = self._instants[name] = local_instant(self.local_day, self.send_time, name)
        return instant


def not_before(
    deliver_at: datetime | None, lead: timedelta | None, now: datetime
) -> datetime | None:
    """When a batch for ``deliver_at`` may be claimed: ``lead`` before it, and never before now.

    ``lead`` is how long ahead a request may go out with a ``send_at`` (zero when the
    provider cannot hold mail): a zone group hours away waits in the ledger until then.
    None: at once (an editor's ``digest send``, which sends ahead with ``send_at``).
    """
    if deliver_at is None or lead is None or deliver_at - lead <= now:
        return None
    return deliver_at - lead


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
    if not topics_match(candidate.topics, edition_topics):
        return SkipReason.NO_MATCHING_TOPIC
    return None


def topics_match(chosen: Iterable[str], edition_topics: frozenset[str]) -> bool:
    """Whether a reader who chose ``chosen`` (none: every topic) wants an edition on these.

    ``edition_topics`` are case-folded; a choice matches whatever its case.
    """
    chosen = tuple(chosen)
    return not chosen or any(topic.casefold() in edition_topics for topic in chosen)


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
            topics=candidate.topics,
            zone=candidate.zone,
            locale=candidate.locale,
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


def iter_cells(
    recipients: Iterable[tuple[K, Selection]], size: int = MAX_RECIPIENTS_PER_BATCH
) -> Iterator[tuple[K, list[Selection]]]:
    """Cut recipients into batches of one cell each (one email, one instant): ``(cell, batch)``.

    Each cell fills its own batches as ``iter_batches`` does; a full batch goes at
    once, and what is left of every cell at the end. With recipients sorted by cell
    (as PostgreSQL streams them) only one or two cells are open at a time.
    """
    if not 1 <= size <= MAX_RECIPIENTS_PER_BATCH:
        raise ValueError(f"size must be between 1 and {MAX_RECIPIENTS_PER_BATCH}, got {size}")
    open_cells: dict[K, tuple[list[Selection], set[str], list[Selection]]] = {}
    for cell, recipient in recipients:
        current, seen, waiting = open_cells.setdefault(cell, ([], set(), []))
        key = recipient.email.casefold()
        if key in seen:
            waiting.append(recipient)
            continue
        current.append(recipient)
        seen.add(key)
        while len(current) == size:
            yield cell, current
            current, seen, waiting = open_cells[cell] = _refill(waiting, size)
    for cell, (current, _seen, waiting) in open_cells.items():
        while current or waiting:
            if current:
                yield cell, current
            current, _seen, waiting = _refill(waiting, size)


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
