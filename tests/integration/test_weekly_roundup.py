"""A weekly roundup through real processes: beat, worker, the filesystem broker, SQLite, outbox.

Weekly readers get the roundup once and never the daily edition; daily readers get the
daily edition once and never the roundup. The roundup has its own public page and its
own entry in the editions feed, beside the daily edition of the same date.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.utils import parseaddr
from pathlib import Path

import pytest
from sqlalchemy import select, update

from newsletter.content.edition import Cadence
from newsletter.db import utcnow
from newsletter.digests.models import Digest, DigestState
from newsletter.parsing import WEEKDAYS
from newsletter.schedules import editions
from subscribers.models import Subscriber, Subscription
from tests.factories import make_briefings
from tests.integration.pipeline_stack import FINAL, Stack
from tests.unit.newsletter.schedules import seed

pytestmark = pytest.mark.slow

DAILY_READERS = 30
WEEKLY_READERS = 20


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """An embedded deployment: SQLite file, filesystem broker, outbox backend."""
    url = f"sqlite:///{tmp_path / 'var' / 'newsletter.sqlite3'}"
    deployment = Stack(tmp_path, url, email_backend="outbox", batch_size=10)
    deployment.start_services()
    try:
        yield deployment
    finally:
        deployment.stop()


def outbox(stack: Stack) -> Counter[str]:
    """How many emails each address got in the outbox."""
    return Counter(
        parseaddr(message_from_bytes(path.read_bytes())["To"])[1]
        for path in (stack.data_dir / "outbox").glob("*.eml")
    )


def digest_state(stack: Stack, cadence: Cadence) -> DigestState | None:
    """The state of today's digest of that cadence, if assembled."""
    with stack.session() as session:
        return session.scalar(select(Digest.state).where(Digest.cadence == cadence))


def seed_week(stack: Stack) -> tuple[list[str], list[str], str]:
    """A publication offering today's weekday as its roundup day, briefings approved in the
    last hours, daily readers and weekly readers (of today); the weekly addresses and day."""
    today = WEEKDAYS[utcnow().weekday()]
    with stack.session() as session:
        publication = seed.publication(
            session, created=utcnow() - timedelta(minutes=1), briefings=0
        )
        publication.weekly_days = [today]
        make_briefings(session, 3, approved_at=utcnow() - timedelta(hours=5))
        daily = seed.readers(session, publication, DAILY_READERS)
        weekly = seed.readers(session, publication, WEEKLY_READERS, start=DAILY_READERS + 1)
        ids = select(Subscriber.id).where(Subscriber.email.in_(weekly)).scalar_subquery()
        session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id.in_(ids))
            .values(cadence=Cadence.WEEKLY, weekly_day=today)
        )
    return daily, weekly, today


def send(stack: Stack, cadence: Cadence) -> None:
    """Make today's edition of that cadence due now, as ``digest send-now`` does."""
    with stack.session() as session:
        editions.send_now(session, "morning", cadence=cadence)


def test_weekly_and_daily_readers_each_get_their_own_edition_once(stack: Stack) -> None:
    """The roundup reaches every weekly reader once and no daily reader; the daily edition of
    the same date reaches every daily reader once and no weekly reader; both are public."""
    daily, weekly, _ = seed_week(stack)
    send(stack, Cadence.WEEKLY)
    stack.start("worker")
    stack.start("beat")
    try:
        stack.wait(
            lambda: digest_state(stack, Cadence.WEEKLY) in FINAL, timeout=120, what="the roundup"
        )
        assert digest_state(stack, Cadence.WEEKLY) is DigestState.SENT
        after_roundup = outbox(stack)
        assert set(after_roundup) == set(weekly)
        assert set(after_roundup.values()) == {1}

        send(stack, Cadence.DAILY)
        stack.wait(
            lambda: digest_state(stack, Cadence.DAILY) in FINAL, timeout=120, what="the daily"
        )
        assert digest_state(stack, Cadence.DAILY) is DigestState.SENT
        copies = outbox(stack)
        assert set(copies) == set(daily) | set(weekly)
        assert set(copies.values()) == {1}

        with stack.session() as session:
            roundup = session.scalars(select(Digest).where(Digest.cadence == Cadence.WEEKLY)).one()
            day = roundup.edition_date.isoformat()
            assert [item.content["slug"] for item in roundup.items] == [
                "story-3",
                "story-2",
                "story-1",
            ]  # equal priority: newest first
        public = stack.data_dir / "public" / "p" / "morning"
        stack.wait(
            lambda: (
                (public / "weekly" / day / "index.html").exists()
                and (public / day / "index.html").exists()
            ),
            timeout=60,
            what="both pages exported",
        )
        page = (public / "weekly" / day / "index.html").read_text(encoding="utf-8")
        assert "Weekly roundup" in page
        feed = public / "feeds" / "editions" / "feed.json"
        stack.wait(
            lambda: feed.exists() and len(json.loads(feed.read_bytes())["items"]) == 2,
            timeout=60,
            what="both editions in the editions feed",
        )
        items = json.loads(feed.read_bytes())["items"]
        ids = {item["id"] for item in items}
        assert len(ids) == 2
        assert any(f"/p/morning/weekly/{day}/" in item_id for item_id in ids)
    except AssertionError:
        print(stack.logs())
        raise
