"""Through a provider outage the pipeline's messages stay proportional to batches, not to time.

The tasks run in-process (``inline``) on a clock the test moves a tick at a time, with
the memory sender refusing every connection while the provider is "down".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from newsletter.db import utcnow
from newsletter.delivery.models import ProviderBreaker
from newsletter.digests.models import Digest, DigestState
from newsletter.errors import RetryableError
from newsletter.pipeline import batches
from newsletter.providers.interfaces import Batch, SendResult
from newsletter.providers.memory import MemorySender
from newsletter.runtime import Runtime
from newsletter.schedules import editions
from newsletter.settings import EmailBackend, Settings
from tasks import pipeline as pipeline_module
from tests.unit.newsletter.schedules import seed
from tests.unit.tasks.inline import Inline, inline

READERS = 40  # one batch each
TICK = timedelta(minutes=1)


class Provider:
    """The memory sender behind a switch: while down, every connection is refused."""

    def __init__(self, memory: MemorySender) -> None:
        self.memory = memory
        self.down = False
        self.refused = 0

    def send_batch(self, batch: Batch) -> SendResult:
        """Refuse while down, else send."""
        if self.down:
            self.refused += 1
            raise RetryableError("connection refused (provider down)")
        return self.memory.send_batch(batch)


class Clock:
    """The pipeline's clock: ahead of the wall clock, moved by the test a tick at a time."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def outage(
    data_dir: Path, mailbox: MemorySender, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Inline, Provider, Clock]]:
    """An inline pipeline of 40 one-reader batches, a switchable provider, a test clock."""
    settings = Settings(
        data_dir=data_dir,
        email_backend=EmailBackend.MEMORY,
        dispatch_batch_size=1,
        breaker_threshold=3,
    )
    runtime = Runtime(settings)
    runtime.ensure_schema()
    with runtime.database.session() as session:
        pub = seed.publication(session, created=utcnow() - timedelta(minutes=1))
        seed.readers(session, pub, READERS)
    provider = Provider(mailbox)
    runtime._sender = provider  # the memory sender behind a switch
    clock = Clock()
    monkeypatch.setattr(pipeline_module, "utcnow", clock)
    real: Callable[..., Any] = batches.send_claimed  # type: ignore[attr-defined]
    monkeypatch.setattr(batches, "send_claimed", partial(real, clock=clock))
    yield inline(runtime), provider, clock
    runtime.close()


def send_batches(driver: Inline) -> int:
    """How many send_batch messages the pipeline has sent so far."""
    return driver.steps().count("send_batch")


def test_messages_stay_proportional_to_batches_through_an_outage(
    outage: tuple[Inline, Provider, Clock],
) -> None:
    """A ten-minute outage costs one probe message a tick, not a message per batch per tick;
    afterwards every reader gets exactly one copy."""
    driver, provider, clock = outage
    with pipeline_runtime(driver).database.session() as session:
        editions.send_now(session, "morning")
    provider.down = True
    driver.run("tick")
    driver.drain()
    first = send_batches(driver)
    assert first <= READERS + 3  # one each, and one retry for a failure before the breaker opened
    with pipeline_runtime(driver).database.session() as session:
        breaker = session.scalars(select(ProviderBreaker)).one()
        assert breaker.probe_at is not None  # open: nobody else is tried
    outage_ticks = 10
    for _ in range(outage_ticks):
        clock.now += TICK
        before = send_batches(driver)
        driver.run("tick")
        driver.drain()
        assert send_batches(driver) - before <= 1  # at most the one probe
    during = send_batches(driver) - first
    assert provider.refused <= 3 + outage_ticks  # the provider was probed, not hammered
    provider.down = False
    clock.now += TICK
    driver.run("tick")
    driver.drain()
    total = send_batches(driver)
    assert total <= 2 * READERS + outage_ticks + 3, (first, during, total)
    addresses = [email.to for email in provider.memory.sent]
    assert len(addresses) == READERS == len(set(addresses))
    with pipeline_runtime(driver).database.session() as session:
        assert session.scalars(select(Digest.state)).one() is DigestState.SENT
        assert session.scalars(select(ProviderBreaker.probe_at)).one() is None  # closed


def pipeline_runtime(driver: Inline) -> Runtime:
    """The runtime the inline app's tasks use."""
    from tasks.runtimes import runtime_of

    return runtime_of(driver.app)
