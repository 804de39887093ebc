"""The main job on the production stack: PostgreSQL, Redis, real worker and beat processes.

A due edition goes to every reader through the SendGrid test server with no manual
step; a second beat starts nothing twice; workers killed with SIGKILL mid-dispatch
are replaced and every reader still gets exactly one copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from newsletter.db import utcnow
from newsletter.digests.models import DigestState
from newsletter.schedules.claim import claim_due
from newsletter.sendgrid_testserver.server import Fault
from tests.integration.pipeline_stack import FINAL, Stack, redis_stack, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

READERS = 5000


@pytest.fixture
def stack(tmp_path: Path, pg_url: str) -> Iterator[Stack]:
    """A deployment on a fresh PostgreSQL database and an empty Redis database."""
    with redis_stack(tmp_path, pg_url) as deployment:
        yield deployment


def assert_each_once(stack: Stack, readers: int) -> None:
    """Every reader got exactly one copy, nobody else got any, and every event reached us."""
    copies = stack.copies()
    duplicates = {address: n for address, n in copies.items() if n > 1}
    assert duplicates == {}, f"{len(duplicates)} duplicated: {list(duplicates)[:5]}"
    missing = [
        f"reader{n}@example.org"
        for n in range(1, readers + 1)
        if f"reader{n}@example.org" not in copies
    ]
    assert missing == [], f"{len(missing)} lost: {missing[:5]}"
    assert len(copies) == readers
    stack.assert_events_delivered()


def test_due_edition_goes_out_with_no_manual_step(stack: Stack) -> None:
    """Beat ticks, a worker runs every step, 5000 readers get one copy; two beats start it once."""
    stack.seed(READERS)
    stack.send_now()
    stack.start("worker")
    stack.start("beat")
    stack.start("beat", "beat2")  # two beats must start nothing twice
    try:
        stack.wait(lambda: stack.digest_state() in FINAL, timeout=180, what="the edition")
        assert stack.digest_state() is DigestState.SENT
        assert_each_once(stack, READERS)
        accepted = len(stack.server.accepted)  # type: ignore[union-attr]
        # More ticks pass; nothing more is sent.
        wait_until(lambda: "tick" in (stack.root / "beat.log").read_text(), timeout=20, what="beat")
        with stack.session() as session:
            assert claim_due(session, utcnow(), window=timedelta(hours=3)).started == []
        assert len(stack.server.accepted) == accepted  # type: ignore[union-attr]
    except AssertionError:
        print(stack.logs())
        raise


@pytest.mark.parametrize("kill_point", ["refused_request", "accepted_unrecorded"])
def test_killed_worker_is_replaced_and_nobody_gets_two(stack: Stack, kill_point: str) -> None:
    """SIGKILL mid-dispatch (at a refused request, or after an accepted one before its
    answer is recorded): a new worker finishes and every reader has exactly one copy."""
    readers = 3000
    stack.seed(readers)
    server = stack.server
    assert server is not None
    killed: list[str] = []

    def kill_on(_line: str) -> None:
        # The server logs each request as it records it, before it answers: killing the
        # worker here leaves the batch claimed with no answer recorded.
        if killed or "worker" not in stack.processes:
            return
        refused = kill_point == "refused_request" and server.rejected
        unrecorded = kill_point == "accepted_unrecorded" and len(server.accepted) == 2
        if refused or unrecorded:
            killed.append(kill_point)
            stack.kill("worker")

    server.log = kill_on
    if kill_point == "refused_request":
        server.inject(Fault.SERVER_ERROR)  # the first request is refused: the kill point
    stack.send_now()
    stack.start("worker")
    stack.start("beat")
    try:
        wait_until(lambda: killed, timeout=120, what="the kill point")
        stack.start("worker", "worker2")
        stack.wait(lambda: stack.digest_state() in FINAL, timeout=180, what="the edition")
        assert stack.digest_state() is DigestState.SENT
        assert_each_once(stack, readers)
    except AssertionError:
        print(stack.logs())
        raise
