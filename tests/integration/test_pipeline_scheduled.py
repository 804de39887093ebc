"""Sending ahead on the production stack: real worker and beat, Redis, PostgreSQL, test server.

An edition due in fourteen minutes starts at once (the lead is fifteen), every request
goes out with that send_at under its own batch id, and nobody receives anything until
the test server's clock reaches it. One request's answer is lost: the worker cancels
its batch id, confirms the cancel and sends those readers again, so when the clock
passes the instant every reader gets exactly one copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.db import utcnow
from newsletter.delivery.models import GroupState, ProviderGroup
from newsletter.digests.models import DigestState
from newsletter.schedules import editions
from newsletter.sendgrid_testserver.server import Endpoint, Fault
from tests.integration.pipeline_stack import FINAL, Stack, redis_stack

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

READERS = 600
BATCH = 100


@pytest.fixture
def stack(tmp_path: Path, pg_url: str) -> Iterator[Stack]:
    """A deployment on a fresh PostgreSQL database and an empty Redis database."""
    extra_env = {"NEWSLETTER_SCHEDULE_LEAD": "PT15M"}
    with redis_stack(tmp_path, pg_url, batch_size=BATCH, extra_env=extra_env) as deployment:
        yield deployment


def group_states(stack: Stack) -> list[GroupState]:
    with stack.session() as session:
        return list(session.scalars(select(ProviderGroup.state).order_by(ProviderGroup.id)))


def test_edition_sent_ahead_reaches_each_reader_once_at_its_minute(stack: Stack) -> None:
    """Held until the instant; a lost answer cancelled and resent; each reader gets one copy."""
    assert stack.server is not None
    stack.seed(READERS)
    due_at = (utcnow() + timedelta(minutes=14)).replace(second=0, microsecond=0)
    with stack.session() as session:
        editions.schedule_once(session, "morning", due_at.replace(tzinfo=None))
    stack.server.inject(Fault.DROP_AFTER_ACCEPT, on=Endpoint.MAIL_SEND)
    stack.start("worker")
    stack.start("beat")
    try:
        stack.wait(
            lambda: stack.scheduled_readers() == READERS,
            timeout=120,
            what="every reader scheduled",
        )
        assert stack.server.delivered_recipients() == {}
        states = group_states(stack)
        assert states.count(GroupState.CANCELLED) == 1
        assert states.count(GroupState.OPEN) == READERS // BATCH
        send_ats = {request.payload.get("send_at") for request in stack.server.accepted}
        assert send_ats == {int(due_at.timestamp())}
        assert stack.digest_state() is DigestState.SENDING
        # The provider's clock reaches the instant: it releases the mail and posts events.
        stack.server.advance((due_at - utcnow()).total_seconds() + 1)
        stack.wait(lambda: stack.digest_state() in FINAL, timeout=120, what="the edition")
        assert stack.digest_state() is DigestState.SENT
        copies = stack.server.delivered_recipients()
        assert len(copies) == READERS
        assert set(copies.values()) == {1}
        assert sum(stack.server.discarded_recipients().values()) == BATCH
        stack.assert_events_delivered()
    except AssertionError:
        print(stack.logs())
        raise
