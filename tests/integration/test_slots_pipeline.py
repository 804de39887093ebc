"""Two named slots of one date on the production stack: PostgreSQL, Redis, real worker
and beat processes, the SendGrid test server.

A publication with a morning and an evening slot, both due minutes ago: the beat
starts each slot's edition once, the worker assembles each with the briefings
approved before its own cut-off, and every reader gets each edition exactly once:
two distinct editions of the same date, two copies per reader, never a third.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.content.slots import SlotSpec
from newsletter.db import utcnow
from newsletter.delivery.models import Delivery, DeliveryState
from newsletter.digests.models import Digest, DigestState
from newsletter.parsing import WEEKDAYS
from newsletter.schedules import slots
from newsletter.schedules.models import ScheduledEdition
from tests.factories import make_briefing
from tests.integration.pipeline_stack import FINAL, Stack, redis_stack
from tests.unit.newsletter.schedules import seed

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

READERS = 300
BATCH = 100


@pytest.fixture
def stack(tmp_path: Path, pg_url: str) -> Iterator[Stack]:
    """A deployment on a fresh PostgreSQL database and an empty Redis database."""
    with redis_stack(tmp_path, pg_url, batch_size=BATCH) as deployment:
        yield deployment


def seed_slots(stack: Stack) -> tuple[datetime, datetime]:
    """Publication 'morning' (UTC) with a "morning" slot four minutes ago and an "evening"
    slot a minute ago (one-minute cut-offs), readers, and one briefing for each slot: one
    approved before the morning's cut-off, one between the morning and the evening's
    cut-off. The two slot instants."""
    now = utcnow().replace(second=0, microsecond=0)
    morning, evening = now - timedelta(minutes=4), now - timedelta(minutes=1)
    added = now - timedelta(hours=1)
    with stack.session() as session:
        publication = seed.publication(session, briefings=0, created=added)
        seed.readers(session, publication, READERS)
        for name, instant in (("morning", morning), ("evening", evening)):
            spec = SlotSpec(name, instant.time(), frozenset(WEEKDAYS), cutoff_minutes=1)
            slots.add_slot(session, "morning", spec, now=added)
        make_briefing(session, slug="overnight", approved_at=morning - timedelta(minutes=30))
        make_briefing(session, slug="midday", approved_at=morning + timedelta(seconds=30))
    return morning, evening


def digests(stack: Stack) -> dict[str, tuple[DigestState, list[str], str]]:
    """Each slot's digest: its state, its briefings and its subject."""
    with stack.session() as session:
        return {
            d.slot: (d.state, [item.content["slug"] for item in d.items], d.subject or "")
            for d in session.scalars(select(Digest))
        }


def all_final(stack: Stack) -> bool:
    found = digests(stack)
    return len(found) == 2 and all(state in FINAL for state, _, _ in found.values())


def test_morning_and_evening_editions_are_distinct_and_each_sent_once(stack: Stack) -> None:
    """Beat starts both slots' editions of the date once each; each carries its own
    briefing; every reader gets each exactly once (two copies in all, none twice)."""
    assert stack.server is not None
    morning, evening = seed_slots(stack)
    stack.start("worker")
    stack.start("beat")
    try:
        stack.wait(lambda: all_final(stack), timeout=180, what="both slot editions sent")
        found = digests(stack)
        assert found["morning"][:2] == (DigestState.SENT, ["overnight"])
        assert found["evening"][:2] == (DigestState.SENT, ["midday"])
        assert "(morning)" in found["morning"][2]
        assert "(evening)" in found["evening"][2]
        with stack.session() as session:
            editions = session.execute(
                select(ScheduledEdition.slot, ScheduledEdition.due_at, ScheduledEdition.state)
            ).all()
            assert sorted((slot, due_at) for slot, due_at, _ in editions) == sorted(
                [("evening", evening), ("morning", morning)]
            )
            sent = Counter(
                dict(
                    session.execute(
                        select(Digest.slot, func.count(func.distinct(Delivery.subscriber_id)))
                        .join(Delivery, Delivery.digest_id == Digest.id)
                        .where(
                            Delivery.state.in_([DeliveryState.ACCEPTED, DeliveryState.DELIVERED])
                        )
                        .group_by(Digest.slot)
                    ).all()
                )
            )
        assert sent == {"morning": READERS, "evening": READERS}
        copies = stack.copies()
        assert len(copies) == READERS
        assert set(copies.values()) == {2}  # one copy of each edition, never a third
        subjects = Counter(
            "evening" if "(evening)" in request.payload["subject"] else "morning"
            for request in stack.server.accepted
        )
        assert subjects == {"morning": READERS // BATCH, "evening": READERS // BATCH}
        stack.assert_events_delivered()
    except AssertionError:
        print(stack.logs())
        with stack.session() as session:  # what the scheduler and the pipeline made of it
            for row in session.execute(
                select(ScheduledEdition.slot, ScheduledEdition.state, ScheduledEdition.due_at)
            ):
                print("edition", tuple(row))
        print("digests", digests(stack))
        raise
