"""The outbox on a small real filesystem that fills up mid-send, then frees: ledger and files agree.

A 2 MiB tmpfs (room for about 100 messages of 16 KB) is mounted for the outbox: root
only; skipped on a laptop, a failure in CI. After the first batch is written a ballast
file fills the disk, leaving room for three messages, so the next batch fails part-way
through, as on a real full disk.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.db import Database
from newsletter.delivery.models import SendBatch
from newsletter.delivery.services import DispatchOptions
from newsletter.pipeline.dispatch import dispatch
from newsletter.providers.interfaces import Batch, SendResult
from newsletter.providers.outbox import OutboxSender, staged_files
from tests import services as test_services
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    NOW,
    edition_with_readers,
    states,
    tokens,
)

READERS = 30
BATCH_SIZE = 10
ROOM_FOR = 3  # messages that still fit once the ballast is written
ENOSPC_REASON = "outbox: no space left on device writing "


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A freshly mounted 2 MiB tmpfs, unmounted afterwards."""
    point = tmp_path / "small-disk"
    point.mkdir()
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if os.geteuid() != 0 or mount is None or umount is None:
        test_services.unavailable("the full-disk test mounts a tmpfs: it needs root and mount(8)")
    command = [str(mount), "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(point)]
    mounted = subprocess.run(command, capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        test_services.unavailable(f"mounting a tmpfs was refused: {mounted.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run([str(umount), str(point)], check=True)


def fill(ballast: Path, leave: int) -> None:
    """Write ``ballast`` until the disk is full, then shrink it to free ``leave`` bytes."""
    chunk = b"\0" * 4096
    with ballast.open("wb", buffering=0) as file:
        while True:
            try:
                file.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        file.truncate(max(0, file.tell() - leave))


@dataclass
class FillingOutbox:
    """The outbox, with the disk filled up right after its first batch lands."""

    outbox: OutboxSender
    ballast: Path
    failures: list[str] = field(default_factory=list)
    filled: bool = False

    def send_batch(self, batch: Batch) -> SendResult:
        """Send through the outbox; after the first batch, leave room for ROOM_FOR messages."""
        try:
            result = self.outbox.send_batch(batch)
        except Exception as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")
            raise
        if not self.filled:
            self.filled = True
            largest = max(path.stat().st_blocks * 512 for path in self.outbox.files())
            fill(self.ballast, ROOM_FOR * largest)
        return result


@dataclass(frozen=True)
class Snapshot:
    """What the ledger and the outbox said while the disk was full."""

    files: int
    temporaries: list[str]
    deliveries: dict[str, int]
    batches: list[tuple[str, str]]


def batches(database: Database, digest_id: int) -> list[tuple[str, str]]:
    """Each batch's state and stored error, by number."""
    with database.session() as session:
        rows = session.execute(
            select(SendBatch.state, SendBatch.error)
            .where(SendBatch.digest_id == digest_id)
            .order_by(SendBatch.number)
        )
        return [(state.value, error or "") for state, error in rows]


def test_a_full_outbox_disk_is_retried_and_each_reader_gets_one_file(
    database: Database, small_disk: Path
) -> None:
    """A disk full mid-batch leaves no partial batch or staged file; once freed, each gets one."""
    digest_id, _ = edition_with_readers(database, READERS)
    sender = FillingOutbox(OutboxSender(small_disk / "outbox"), small_disk / "ballast")
    now = [NOW]
    seen: list[Snapshot] = []

    def wait(seconds: float) -> None:
        """While the batches wait for their retry: look, free the disk, let the time pass."""
        if not seen:
            seen.append(
                Snapshot(
                    files=len(sender.outbox.files()),
                    temporaries=[p.name for p in staged_files(sender.outbox.directory)],
                    deliveries=states(database, digest_id),
                    batches=batches(database, digest_id),
                )
            )
            sender.ballast.unlink()
        now[0] += timedelta(seconds=seconds)

    report = dispatch(
        database,
        digest_id,
        sender,
        base_url=BASE_URL,
        tokens=tokens(),
        options=DispatchOptions(batch_size=BATCH_SIZE, rng=random.Random(1)),
        clock=lambda: now[0],
        sleep=wait,
    )

    [full] = seen
    assert sender.failures, "the disk never filled up"
    expected = "RetryableError: " + ENOSPC_REASON
    assert all(failure.startswith(expected) for failure in sender.failures), sender.failures
    assert full.temporaries == []
    assert full.deliveries == {"accepted": BATCH_SIZE, "queued": READERS - BATCH_SIZE}
    assert full.files == full.deliveries["accepted"]
    assert full.batches[0] == ("accepted", "")
    for state, error in full.batches[1:]:
        assert state == "planned"
        assert error.startswith(ENOSPC_REASON), error

    assert report.state == "sent"
    assert states(database, digest_id) == {"accepted": READERS}
    files = sender.outbox.files()
    readers = Counter(path.read_bytes().split(b"\nTo: ", 1)[1].split(b"\n", 1)[0] for path in files)
    assert len(files) == READERS == len(readers)
    assert set(readers.values()) == {1}
    assert staged_files(sender.outbox.directory) == []
