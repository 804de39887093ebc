"""A hub ping that fails is retried by the beat tick, after a worker restart, from the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.digests.models import DigestState
from newsletter.publishing.models import ChangeState, PublicChange
from tests.integration.pipeline_stack import Stack
from tests.websubhub import Hub, running_hub

pytestmark = pytest.mark.slow


@pytest.fixture
def hub() -> Iterator[Hub]:
    """A hub that is down for the first ping (503, retry in 5 s), then accepts."""
    with running_hub([503]) as running:
        running.retry_after = "5"
        yield running


@pytest.fixture
def stack(tmp_path: Path, hub: Hub) -> Iterator[Stack]:
    """An embedded deployment (SQLite, filesystem broker, outbox) with that hub configured."""
    url = f"sqlite:///{tmp_path / 'var' / 'newsletter.sqlite3'}"
    deployment = Stack(
        tmp_path, url, email_backend="outbox", extra_env={"NEWSLETTER_WEBSUB_HUB_URL": hub.url}
    )
    deployment.start_services()
    try:
        yield deployment
    finally:
        deployment.stop()


def change(stack: Stack) -> PublicChange | None:
    """The only public change, if recorded."""
    with stack.session() as session:
        return session.scalar(select(PublicChange))


def test_a_failed_ping_is_retried_by_the_tick_after_a_restart(stack: Stack, hub: Hub) -> None:
    """Publish pings a hub that is down; a new worker, woken by the tick, tells it later."""
    stack.seed(5)
    stack.send_now()
    stack.start("worker")
    stack.start("beat")
    try:
        pending = stack.wait(
            lambda: (c := change(stack)) is not None and c.attempts == 1 and c,
            timeout=120,
            what="the first, failed ping",
        )
        assert pending.state is ChangeState.PENDING
        assert pending.last_error is not None
        assert "answered 503" in pending.last_error
        assert pending.exported_at is not None  # the export went through; only the ping waits
        stack.kill("worker")
        stack.start("worker", "worker2")
        done = stack.wait(
            lambda: (c := change(stack)) is not None and c.state is ChangeState.DONE and c,
            timeout=120,
            what="the retried ping",
        )
        assert done.attempts == 2
        # SQLite has no lock between flushers (docs/delivery.md): the beat's tick and the
        # retry the killed worker left may both ping worker2's hub, which repeats the
        # announcement and loses nothing. Every ping names the same feeds.
        assert len(hub.pings) >= 2
        assert all(ping["hub.url"] == pending.feed_urls for ping in hub.pings)
        stack.wait(lambda: stack.digest_state() is DigestState.SENT, timeout=60, what="sent")
        feeds = stack.data_dir / "public" / "p" / "morning" / "feeds" / "editions"
        assert (feeds / "atom.xml").read_bytes().startswith(b"<?xml")
    except AssertionError:
        print(stack.logs())
        raise
