"""Recipient selection and batching are pure and say why anyone is left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsletter.delivery.models import SkipReason
from newsletter.delivery.planning import (
    Candidate,
    Selection,
    iter_batches,
    select_recipients,
    skip_reason,
)
from subscribers.models import SubscriptionState

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TOPICS = frozenset({"science", "harbour"})
S = SubscriptionState


def candidate(n: int = 1, **overrides: object) -> Candidate:
    values: dict[str, object] = {
        "subscriber_id": n,
        "list_id": 7,
        "email": f"r{n}@example.org",
        "state": S.CONFIRMED,
    }
    values.update(overrides)
    return Candidate(**values)  # type: ignore[arg-type]


def sendable(n: int, email: str | None = None) -> Selection:
    return Selection(n, 7, email or f"r{n}@example.org")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({}, None),
        ({"state": S.PENDING}, SkipReason.UNCONFIRMED),
        ({"state": S.EXPIRED}, SkipReason.UNCONFIRMED),
        ({"state": S.UNSUBSCRIBED}, SkipReason.UNSUBSCRIBED),
        ({"suppressed": True}, SkipReason.SUPPRESSED),
        ({"paused_until": NOW + timedelta(days=1)}, SkipReason.PAUSED),
        ({"paused_until": NOW - timedelta(days=1)}, None),
        ({"topics": ("Sport",)}, SkipReason.NO_MATCHING_TOPIC),
        ({"topics": ("SCIENCE", "Sport")}, None),
    ],
)
def test_skip_reason_per_case(overrides: dict[str, object], reason: SkipReason | None) -> None:
    """Each kind of subscriber is sent to, or skipped with its own reason."""
    assert skip_reason(candidate(**overrides), TOPICS, NOW) is reason


def test_strongest_reason_wins() -> None:
    """A suppressed address that also unsubscribed is counted once, as suppressed."""
    both = candidate(state=S.UNSUBSCRIBED, suppressed=True, topics=("Sport",))
    assert skip_reason(both, TOPICS, NOW) is SkipReason.SUPPRESSED


def test_select_recipients_keeps_order_and_case_folds_topics() -> None:
    """Selection is lazy, keeps order and compares topics without case."""
    chosen = list(
        select_recipients(
            [candidate(1, topics=("science",)), candidate(2, state=S.PENDING)],
            ["Science"],
            NOW,
        )
    )
    assert [(s.subscriber_id, s.skip) for s in chosen] == [(1, None), (2, SkipReason.UNCONFIRMED)]


def test_batches_hold_at_most_size_and_drop_skips() -> None:
    """Batches are cut at ``size`` and skipped recipients never enter one."""
    people = [sendable(n) for n in range(1, 8)] + [
        Selection(99, 7, "x@example.org", SkipReason.PAUSED)
    ]
    batches = list(iter_batches(people, size=3))
    assert [[s.subscriber_id for s in b] for b in batches] == [[1, 2, 3], [4, 5, 6], [7]]


def test_duplicate_address_waits_for_next_batch() -> None:
    """The same address twice never shares a request; the second copy goes in the next one."""
    people = [sendable(1), sendable(2, "R1@example.org"), sendable(3), sendable(4)]
    batches = list(iter_batches(people, size=2))
    for batch in batches:
        addresses = [s.email.casefold() for s in batch]
        assert len(addresses) == len(set(addresses))
    assert sorted(s.subscriber_id for b in batches for s in b) == [1, 2, 3, 4]


def test_trailing_duplicates_get_their_own_batches() -> None:
    """Copies of one address left at the end each get a batch of their own."""
    people = [sendable(1), sendable(2, "r1@example.org"), sendable(3, "r1@example.org")]
    batches = list(iter_batches(people, size=1000))
    assert [[s.subscriber_id for s in b] for b in batches] == [[1], [2], [3]]


def test_iter_batches_is_lazy() -> None:
    """Batches come out while the input is still being read (flat memory)."""

    def endless() -> object:
        n = 0
        while True:
            n += 1
            yield sendable(n)

    first = next(iter_batches(endless(), 2))  # type: ignore[arg-type]
    assert [s.subscriber_id for s in first] == [1, 2]


@pytest.mark.parametrize("size", [0, 1001])
def test_batch_size_is_bounded(size: int) -> None:
    """A batch size outside 1..1000 is refused, naming the limit."""
    with pytest.raises(ValueError, match="between 1 and 1000"):
        next(iter_batches([sendable(1)], size=size))
