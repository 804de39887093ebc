"""The main job on the embedded default: filesystem broker, SQLite, outbox, real processes.

No server of any kind: ``celery -A tasks worker`` and ``celery -A tasks beat`` talk
through files under the data directory, and every email lands in the outbox.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.utils import parseaddr
from pathlib import Path

import pytest

from newsletter.db import utcnow
from newsletter.digests.models import DigestState
from newsletter.processes import send_through_worker
from newsletter.runtime import Runtime
from newsletter.settings import Settings
from tests.integration.pipeline_stack import FINAL, Stack
from tests.unit.newsletter.schedules import seed

pytestmark = pytest.mark.slow

READERS = 300


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """An embedded deployment: SQLite file, filesystem broker, outbox backend."""
    url = f"sqlite:///{tmp_path / 'var' / 'newsletter.sqlite3'}"
    deployment = Stack(tmp_path, url, email_backend="outbox", batch_size=100)
    deployment.start_services()
    try:
        yield deployment
    finally:
        deployment.stop()


def outbox_copies(stack: Stack) -> Counter[str]:
    """How many ``.eml`` files each address got in the outbox."""
    return Counter(
        parseaddr(message_from_bytes(path.read_bytes())["To"])[1]
        for path in (stack.data_dir / "outbox").glob("*.eml")
    )


def test_embedded_default_sends_each_reader_once(stack: Stack) -> None:
    """Beat and worker on the filesystem broker send the due edition once to every reader."""
    stack.seed(READERS)
    stack.send_now()
    stack.start("worker")
    stack.start("beat")
    stack.start("beat", "beat2")
    try:
        stack.wait(lambda: stack.digest_state() in FINAL, timeout=120, what="the edition")
        assert stack.digest_state() is DigestState.SENT
        copies = outbox_copies(stack)
        assert len(copies) == READERS
        assert set(copies.values()) == {1}
        feeds = stack.data_dir / "public" / "p" / "morning" / "feeds" / "editions"
        assert (feeds / "atom.xml").read_bytes().startswith(b"<?xml")
        assert stack.accepted_batches() == READERS // 100
    except AssertionError:
        print(stack.logs())
        raise


def test_send_through_worker_runs_the_demo_path(data_dir: Path) -> None:
    """The demo's helper sends today's edition through a real worker and stops it again."""
    settings = Settings(data_dir=data_dir)
    runtime = Runtime(settings)
    runtime.ensure_schema()
    with runtime.database.session() as session:
        pub = seed.publication(session, created=utcnow() - timedelta(minutes=1))
        seed.readers(session, pub, 20)
    runtime.close()
    lines: list[str] = []
    state = send_through_worker(settings, "morning", timeout=120, log=lines.append)
    assert state is DigestState.SENT
    assert len(list((data_dir / "outbox").glob("*.eml"))) == 20
    assert any(line.startswith("started worker") for line in lines)
