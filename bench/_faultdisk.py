"""The outbox on a real small filesystem for the fault harness: mount, fill, free, count.

A tmpfs is mounted on the deployment's outbox folder (root and ``mount(8)`` only),
large enough for every reader's message; ``fill`` writes a ballast file until the
disk is full and leaves a little room, so a batch fails part-way as on a real full
disk; deleting the ballast frees it. ``copies`` reads which readers got a file.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from newsletter.providers.outbox import staged_files
from subscribers.models import Subscriber

if TYPE_CHECKING:
    from bench._faultstack import Deployment

MESSAGE_ROOM = 64 * 1024  # bytes of disk per reader (a message is about 16 KB)
_NAME = re.compile(r"^edition-(\d+)-(\d+)\.eml$")


@contextmanager
def small_disk(point: Path, readers: int) -> Iterator[Path]:
    """A tmpfs mounted on ``point`` with room for ``readers`` messages, unmounted after."""
    point.mkdir(parents=True, exist_ok=True)
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if os.geteuid() != 0 or mount is None or umount is None:
        raise RuntimeError("scenario f mounts a tmpfs for the outbox: it needs root and mount(8)")
    size = f"size={(readers * MESSAGE_ROOM) // (1 << 20) + 16}m"
    command = [mount, "-t", "tmpfs", "-o", f"{size},mode=0700", "tmpfs", str(point)]
    mounted = subprocess.run(command, capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        raise RuntimeError(f"mounting a tmpfs on {point} was refused: {mounted.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run([umount, "-l", str(point)], check=True)


def fill(ballast: Path, *, leave: int) -> None:
    """Write ``ballast`` until its disk is full, then shrink it to leave ``leave`` bytes free."""
    chunk = b"\0" * (1 << 16)
    with ballast.open("wb", buffering=0) as file:
        while True:
            try:
                file.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        file.truncate(max(0, file.tell() - leave))


def temporaries(outbox: Path) -> list[str]:
    """Messages left staged in the outbox folder (there should be none)."""
    return [str(path.relative_to(outbox)) for path in staged_files(outbox)]


def copies(dep: Deployment, outbox: Path) -> dict[str, int]:
    """Per reader address, how many message files the outbox holds for the edition."""
    ids: dict[int, int] = {}
    for path in outbox.iterdir():
        match = _NAME.match(path.name)
        if match:
            subscriber = int(match.group(2))
            ids[subscriber] = ids.get(subscriber, 0) + 1
    with dep.session() as session:
        rows = session.execute(select(Subscriber.id, Subscriber.email)).all()
    return {email: ids[sid] for sid, email in rows if sid in ids}
