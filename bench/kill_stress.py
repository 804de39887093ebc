"""Kill stress: SIGKILL the worker at random moments mid-dispatch and count every copy.

Each run seeds a fresh database with N readers (20k at scale 1.0), makes an edition
due, starts a real ``celery -A tasks worker`` and ``celery -A tasks beat``, kills the
worker (and its pool) with SIGKILL at a random moment while batches are going out,
starts a replacement, and waits for the edition's final state. The SendGrid test
server counts what it accepted: a duplicate is an address with two copies, a loss a
reader with none. Both must be 0 on every run.

PostgreSQL is used when ``NEWSLETTER_TEST_DATABASE_URL`` is set (SQLite otherwise),
Redis when ``NEWSLETTER_TEST_REDIS_URL`` is set (the filesystem broker otherwise).
Run it with ``python -m bench kill_stress`` (about a minute per run at scale 1.0).
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.integration.pipeline_stack import FINAL, Stack
from tests.scratchdb import fresh_postgres

READERS = 20_000
RUNS = 10
BATCH = 500


@contextmanager
def _database(root: Path) -> Iterator[str]:
    """A fresh database URL: a new PostgreSQL database if configured, else a SQLite file."""
    server = os.environ.get("NEWSLETTER_TEST_DATABASE_URL", "")
    if not server:
        yield f"sqlite:///{root / 'var' / 'newsletter.sqlite3'}"
        return
    with fresh_postgres(server, "newsletter_stress_") as url:
        yield url


def _flush_redis(url: str) -> None:
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()


def one_run(readers: int, rng: random.Random, root: Path) -> tuple[int, int, float]:
    """One kill-and-replace run; returns (duplicates, losses, seconds)."""
    broker = os.environ.get("NEWSLETTER_TEST_REDIS_URL", "")
    _flush_redis(broker)
    started = time.monotonic()
    with _database(root) as url:
        stack = Stack(root, url, broker_url=broker, batch_size=BATCH)
        stack.start_services()
        server = stack.server
        assert server is not None
        batches = -(-readers // BATCH)
        # The kill comes after a random number of accepted requests, plus a random
        # delay, so it lands anywhere: before a call, during one, between two.
        after = rng.randrange(0, max(1, batches - 1))
        delay = rng.uniform(0.0, 0.5)
        killed = threading.Event()

        def kill_on(_line: str) -> None:
            if len(server.accepted) >= after and not killed.is_set():
                killed.set()
                threading.Timer(delay, _kill, args=(stack,)).start()

        server.log = kill_on
        try:
            stack.seed(readers)
            stack.send_now()
            stack.start("worker")
            stack.start("beat")
            stack.wait(lambda: killed.is_set(), timeout=300, what="the kill point")
            stack.wait(lambda: "worker" not in stack.processes, timeout=30, what="the kill")
            stack.start("worker", "worker2")
            stack.wait(lambda: stack.digest_state() in FINAL, timeout=600, what="the edition")
            copies = stack.copies()
        finally:
            stack.stop()
    duplicates = sum(n - 1 for n in copies.values() if n > 1)
    losses = readers - len(copies)
    return duplicates, losses, time.monotonic() - started


def _kill(stack: Stack) -> None:
    if "worker" in stack.processes:
        stack.kill("worker")


def run(scale: float = 1.0) -> dict[str, float]:
    """Repeat the kill run (10 × 20k readers at scale 1.0); print and return the totals."""
    readers = max(50, int(READERS * scale))
    runs = max(1, round(RUNS * scale)) if scale < 1 else RUNS
    rng = random.Random(int(os.environ.get("NEWSLETTER_BENCH_SEED", "0")) or None)
    total_duplicates = total_losses = 0
    for number in range(1, runs + 1):
        with tempfile.TemporaryDirectory(prefix="kill-stress-") as folder:
            duplicates, losses, seconds = one_run(readers, rng, Path(folder))
        total_duplicates += duplicates
        total_losses += losses
        print(
            f"run {number}/{runs}: {readers} readers, worker killed and replaced, "
            f"duplicates {duplicates}, losses {losses} ({seconds:.1f} s)"
        )
    print(f"kill stress: {runs} runs, duplicates {total_duplicates}, losses {total_losses}")
    return {"runs": runs, "duplicates": total_duplicates, "losses": total_losses}
