"""No cross-talk: a real worker refuses a message sent for another deployment's database.

Two deployments share one Redis queue, as in the incident: database Y (PostgreSQL)
has a worker, database X (a SQLite file) has none. An ``assemble`` message sent by X
for an edition id that also exists in Y is refused by Y's worker, loudly, and Y is
left untouched; the message is dropped, not put back. The same message without the
database header (an older sender) is run, with a warning, and does assemble Y's
edition: proof that the refused message would have acted on Y's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from sqlalchemy import func, select

from newsletter.db import utcnow
from newsletter.digests.models import Digest
from newsletter.schedules.claim import claim_due
from newsletter.settings import Settings
from tasks.app import make_celery
from tasks.deployment import database_identity
from tests import services as test_services
from tests.integration.pipeline_stack import Stack, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

ASSEMBLE = "tasks.pipeline.assemble"


@pytest.fixture
def queue() -> Iterator[redis.Redis]:
    """The shared, empty Redis database both deployments use as their broker."""
    client = redis.Redis.from_url(test_services.redis_url())
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def stack_y(tmp_path: Path, pg_url: str, queue: redis.Redis) -> Iterator[Stack]:
    """Deployment Y: PostgreSQL, one real worker on the shared queue, an edition started."""
    deployment = Stack(
        tmp_path / "y", pg_url, broker_url=test_services.redis_url(), email_backend="outbox"
    )
    deployment.start_services()
    deployment.seed(2)
    deployment.send_now()
    with deployment.session() as session:
        assert claim_due(session, utcnow(), window=timedelta(hours=3)).started
    deployment.start("worker")
    try:
        yield deployment
    finally:
        deployment.stop()


def digests(stack: Stack) -> int:
    """How many digests deployment Y has (assemble creates one)."""
    with stack.session() as session:
        return int(session.scalar(select(func.count()).select_from(Digest)) or 0)


def worker_log(stack: Stack) -> str:
    """What Y's worker has logged so far."""
    return (stack.root / "worker.log").read_text(errors="replace")


def queue_empty(client: redis.Redis) -> bool:
    """No message waits in the queue or is held unacknowledged by a worker."""
    return client.llen("celery") == 0 and client.hlen("unacked") == 0


def test_worker_refuses_a_message_for_another_database(
    stack_y: Stack, queue: redis.Redis, tmp_path: Path
) -> None:
    """A message stamped for database X is not run by Y's worker: ERROR naming both, Y unchanged."""
    x_url = f"sqlite:///{tmp_path / 'x' / 'newsletter.sqlite3'}"
    x_settings = Settings(
        data_dir=tmp_path / "x", database_url=x_url, broker_url=test_services.redis_url()
    )
    x_app = make_celery(x_settings)
    edition_id = 1  # exists in Y, started, not yet assembled
    try:
        x_app.send_task(ASSEMBLE, args=(edition_id,))
        stack_y.wait(
            lambda: "REFUSED" in worker_log(stack_y), timeout=120, what="the worker's refusal"
        )
        refusal = next(line for line in worker_log(stack_y).splitlines() if "REFUSED" in line)
        assert "ERROR" in refusal
        assert ASSEMBLE in refusal
        assert database_identity(x_url).hint in refusal
        assert database_identity(stack_y.database_url).hint in refusal
        # Dropped, not requeued: nothing waits or is held, and Y never ran it.
        wait_until(lambda: queue_empty(queue), timeout=30, what="the refused message to go")
        assert digests(stack_y) == 0

        # The same message from a sender that stamps nothing (an older version) runs.
        legacy = Celery("legacy", broker=test_services.redis_url(), set_as_current=False)
        try:
            legacy.send_task(ASSEMBLE, args=(edition_id,))
        finally:
            legacy.close()
        stack_y.wait(lambda: digests(stack_y) == 1, timeout=120, what="the legacy assemble")
        assert "has no newsletter_db header" in worker_log(stack_y)
        assert worker_log(stack_y).count("REFUSED") == 1
    except AssertionError:
        print(stack_y.logs())
        raise
    finally:
        x_app.close()
