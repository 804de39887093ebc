"""Each reader's own digest on the production stack, at 07:00 in their own zone.

Real worker and beat processes (Redis, PostgreSQL) and the SendGrid test server. The
processes run on a shifted clock (libfaketime: ``FAKETIME=+Ns``) set to the evening
of Saturday 27 March 2027, so that Sunday's edition crosses a daylight-saving change:
London moves to BST at 01:00 UTC that Sunday, so its 07:00 is 06:00 UTC, not 07:00.
The test server's clock is shifted the same way, and the test moves it past each
zone's 07:00 in turn: Tokyo (22:00 UTC Saturday), London (06:00 UTC), New York
(11:00 UTC, EDT since 14 March).

Readers in each zone, one without a zone (the publication's: London), one with a
topic (a variant: only their briefing), and a weekly reader (Sunday roundup only).
The worker is killed while the provider holds its first request unanswered: its
batch id is cancelled and the readers sent again, so each reader still gets exactly
one copy, of their own variant, with the send_at of their own zone.
"""

from __future__ import annotations

import glob
import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from newsletter.content.edition import Cadence
from newsletter.db import utcnow
from newsletter.publications.models import Publication
from newsletter.sendgrid_testserver.server import Endpoint, Fault
from subscribers.models import Subscriber, Subscription, SubscriptionState
from subscribers.services import ensure_default_list
from tests.factories import make_briefing
from tests.integration.pipeline_stack import Stack, redis_stack
from tests.unit.newsletter.schedules import seed

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

START = datetime(2027, 3, 27, 21, 40, tzinfo=UTC)  # Saturday evening, UTC
TOKYO = datetime(2027, 3, 27, 22, 0, tzinfo=UTC)  # Sunday 07:00 JST
LONDON = datetime(2027, 3, 28, 6, 0, tzinfo=UTC)  # Sunday 07:00 BST (GMT until 01:00 UTC)
NEW_YORK = datetime(2027, 3, 28, 11, 0, tzinfo=UTC)  # Sunday 07:00 EDT
# Readers: address -> (zone, topics, cadence). The publication's own zone is London.
READERS: dict[str, tuple[str | None, tuple[str, ...], Cadence]] = {
    "tokyo1@example.org": ("Asia/Tokyo", (), Cadence.DAILY),
    "tokyo2@example.org": ("Asia/Tokyo", (), Cadence.DAILY),
    "london@example.org": ("Europe/London", (), Cadence.DAILY),
    "nozone@example.org": (None, (), Cadence.DAILY),
    "newyork@example.org": ("America/New_York", (), Cadence.DAILY),
    "science@example.org": ("America/New_York", ("science",), Cadence.DAILY),
    "weekly@example.org": ("Asia/Tokyo", (), Cadence.WEEKLY),
}
EXPECTED_AT = {
    "tokyo1@example.org": TOKYO,
    "tokyo2@example.org": TOKYO,
    "weekly@example.org": TOKYO,
    "london@example.org": LONDON,
    "nozone@example.org": LONDON,
    "newyork@example.org": NEW_YORK,
    "science@example.org": NEW_YORK,
}


def _libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        message = "libfaketime is not installed (Debian package faketime)"
        if os.environ.get("NEWSLETTER_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found[0]


@pytest.fixture
def stack(tmp_path: Path, pg_url: str) -> Iterator[Stack]:
    """A deployment whose worker and beat live on Saturday 27 March 2027, 21:40 UTC."""
    library = _libfaketime()
    shift = (START - utcnow()).total_seconds()
    extra_env = {
        # Every zone's 07:00 lies within the lead: each group goes out at once, held
        # by the provider until its own send_at.
        "NEWSLETTER_SCHEDULE_LEAD": "PT14H",
        "LD_PRELOAD": library,
        "FAKETIME": f"+{shift:.0f}s",
    }
    with redis_stack(tmp_path, pg_url, batch_size=1, extra_env=extra_env) as deployment:
        assert deployment.server is not None
        left = shift  # the provider's clock: the same evening (it moves 30 days at most a call)
        while left > 0:
            step = min(left, 29 * 86_400.0)
            deployment.server.advance(step)
            left -= step
        yield deployment


def _seed(stack: Stack) -> None:
    approved = START - timedelta(hours=2)
    with stack.session() as session:
        publication: Publication = seed.publication(
            session, timezone="Europe/London", briefings=0, created=START - timedelta(days=2)
        )
        publication.send_time = time(7, 0)
        publication.local_delivery = True
        publication.weekly_days = ["sun"]
        for index, topic in enumerate(("Science", "Harbour", "Climate"), start=1):
            make_briefing(
                session,
                slug=f"story-{index}",
                title=f"{topic} story",
                topics=[topic],
                approved_at=approved + timedelta(minutes=index),
            )
        list_id = ensure_default_list(session, publication).id
        for email, (zone, topics, cadence) in READERS.items():
            subscriber = Subscriber(email=email, name="", timezone=zone)
            session.add(subscriber)
            session.flush()
            session.add(
                Subscription(
                    subscriber_id=subscriber.id,
                    list_id=list_id,
                    state=SubscriptionState.CONFIRMED,
                    topics=list(topics),
                    cadence=cadence,
                    weekly_day="sun" if cadence is Cadence.WEEKLY else None,
                )
            )


def _sent_at_and_subject(stack: Stack) -> dict[str, set[tuple[int, str]]]:
    """Per address, the (send_at, subject) of every request the provider accepted for it."""
    assert stack.server is not None
    found: dict[str, set[tuple[int, str]]] = {}
    for request in stack.server.accepted:
        payload = request.payload
        for personalization in payload["personalizations"]:
            for to in personalization["to"]:
                found.setdefault(to["email"], set()).add(
                    (int(payload.get("send_at", 0)), payload["subject"])
                )
    return found


def _released(stack: Stack) -> Counter[str]:
    assert stack.server is not None
    return stack.server.delivered_recipients()


def _advance_to(stack: Stack, instant: datetime) -> None:
    assert stack.server is not None
    stack.server.advance(max(0.0, instant.timestamp() + 1 - stack.server.now()))


def test_each_reader_gets_their_own_digest_at_seven_in_their_own_zone(stack: Stack) -> None:
    """Right send_at per zone (across BST), own variant, own cadence, once, despite a crash."""
    assert stack.server is not None
    _seed(stack)
    # The provider takes the first request but never answers in time; the worker that
    # sent it is killed while it waits.
    stack.server.inject(Fault.LATE_ANSWER(60), on=Endpoint.MAIL_SEND)
    stack.start("worker")
    stack.start("beat")
    try:
        stack.wait(lambda: stack.server and stack.server.accepted, timeout=120, what="a request")
        stack.kill("worker")
        stack.start("worker", "worker2")
        stack.wait(
            lambda: stack.scheduled_readers() == len(READERS),
            timeout=180,
            what="every reader scheduled at the provider",
        )
        assert stack.server.delivered_recipients() == {}
        sent = _sent_at_and_subject(stack)
        for email, instant in EXPECTED_AT.items():
            send_ats = {send_at for send_at, _ in sent[email]}
            assert send_ats == {int(instant.timestamp())}, email
        subjects = {email: {subject for _, subject in pairs} for email, pairs in sent.items()}
        assert all("weekly roundup" in s for s in subjects["weekly@example.org"])
        daily = set(READERS) - {"weekly@example.org"}
        assert not any("weekly roundup" in s for email in daily for s in subjects[email])
        # The topic reader's email leads with (and carries only) their briefing.
        assert all("Science story" in s for s in subjects["science@example.org"])
        assert all("(+" not in s for s in subjects["science@example.org"])
        assert all("(+2 more)" in s for s in subjects["newyork@example.org"])
        # The provider's clock reaches each zone's 07:00 in turn.
        expected: Counter[str] = Counter()
        for instant in (TOKYO, LONDON, NEW_YORK):
            _advance_to(stack, instant)
            expected.update({e: 1 for e, at in EXPECTED_AT.items() if at == instant})
            stack.wait(
                lambda: _released(stack) == expected,
                timeout=60,
                what=f"exactly the readers due by {instant:%H:%M} UTC",
            )
        assert set(stack.copies().values()) == {1}
        assert sum(stack.server.discarded_recipients().values()) >= 1  # the cancelled request
    except AssertionError:
        print(stack.logs())
        raise
