"""Pipeline benchmark: one edition to N readers through real Celery workers, Redis and PostgreSQL.

The production path: a published edition's ``plan`` message goes on the Redis broker;
a ``celery -A tasks worker`` (prefork, two processes, configured only by
``NEWSLETTER_*`` variables) plans the ledger, sends the batches as tasks through the
``sendgrid`` backend to the SendGrid test server (in a process of its own), and
finalises the edition. Beside it, the direct path: two processes calling
``newsletter.delivery.dispatch`` on a fresh database, as ``bench dispatch``
does. For each it prints readers per second and CPU per reader for the workers, the
PostgreSQL backends of the run's database and the test server, read from ``/proc``
(the test server's CPU is its own; the workers' includes their pool processes).
The test server counts accepted copies per address: every reader must have exactly one.

Needs PostgreSQL (``--database-url``, ``NEWSLETTER_BENCH_DATABASE_URL`` or
``NEWSLETTER_TEST_DATABASE_URL``, on this machine for its CPU) and a Redis database it
may empty (``--broker-url``, ``NEWSLETTER_BENCH_BROKER_URL`` or
``NEWSLETTER_TEST_REDIS_URL``). N = 20,000 at scale 1. With ``--profile FILE``
py-spy (``pip install py-spy``) samples the worker and its pool processes from
outside during the run, writes their collapsed stacks to FILE and prints the
functions with the most samples.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import update

from bench import _cpu, _profile, _stack
from bench.dispatch import seed
from newsletter import migrate
from newsletter.db import Database, utcnow
from newsletter.digests.models import Digest, DigestState
from newsletter.pipeline.dispatch import dispatch
from newsletter.providers.sendgrid import SendGridSender
from subscribers.tokens import Tokens
from tests.scratchdb import fresh_postgres

READERS = 20_000
BATCH = 1000  # the production default (NEWSLETTER_DISPATCH_BATCH_SIZE)
DIRECT_PROCESSES = 2


@dataclass(frozen=True)
class Figures:
    """One path's run: wall time and CPU seconds per part, and what the server accepted."""

    readers: int
    seconds: float
    workers: float
    postgres: float
    server: float
    copies: dict[str, int]

    def per_reader(self, cpu: float) -> float:
        """CPU seconds as microseconds per reader."""
        return cpu / self.readers * 1e6

    def check(self, label: str) -> tuple[int, int]:
        """Duplicated and missing readers; raise if any reader got other than one copy."""
        duplicates = sum(1 for n in self.copies.values() if n > 1)
        missing = self.readers - len(self.copies)
        if duplicates or missing:
            raise RuntimeError(f"{label}: {duplicates} readers duplicated, {missing} missing")
        return duplicates, missing

    def show(self, label: str, postgres_visible: bool) -> dict[str, float]:
        """Print the run's line and return its figures, keyed ``<label>_...``."""
        rate = self.readers / self.seconds
        work, pg, srv = (self.per_reader(x) for x in (self.workers, self.postgres, self.server))
        pg_text = f"{pg:.0f} µs" if postgres_visible else "not visible from here"
        print(f"{label}: {self.readers:,} readers in {self.seconds:.1f} s, {rate:,.0f} readers/s")
        print(
            f"  CPU per reader: workers {work:.0f} µs, PostgreSQL {pg_text}, "
            f"test server {srv:.0f} µs; workers + PostgreSQL {work + pg:.0f} µs (target <= 60)"
        )
        return {
            f"{label}_rate": rate,
            f"{label}_worker_us": work,
            f"{label}_postgres_us": pg,
            f"{label}_server_us": srv,
            f"{label}_total_us": work + pg,
        }


def _prepare(url: str, count: int, *, published: bool) -> int:
    """Migrate, seed ``count`` readers and a rendered edition (published if asked); its id."""
    database = Database(url)
    try:
        migrate.upgrade(database.engine)
        digest_id = seed(database, count)
        if published:  # what the publish step leaves for the plan step
            with database.session() as session:
                session.execute(
                    update(Digest)
                    .where(Digest.id == digest_id)
                    .values(state=DigestState.PUBLISHED, published_at=utcnow())
                )
        return digest_id
    finally:
        database.dispose()


def _state(database: Database, digest_id: int) -> DigestState:
    """The digest's state now."""
    with database.session() as session:
        digest = session.get(Digest, digest_id)
        assert digest is not None
        return digest.state


def measure_pipeline(
    server_url: str,
    broker_url: str,
    count: int,
    *,
    latency: float = 0.0,
    prefix: str = _stack.DEFAULT_PREFIX,
    profile: Path | None = None,
) -> tuple[Figures, bool]:
    """Send one edition to ``count`` readers through a real worker; figures and PG visibility."""
    with _stack.scratch(server_url, prefix) as (root, url):
        digest_id = _prepare(url, count, published=True)
        with _stack.running(
            root,
            url,
            broker_url,
            latency=latency,
            batch_size=min(BATCH, max(50, count // 20)),
            warm_digest=digest_id,
        ) as stack:
            figures, visible = _drive(stack, digest_id, count, profile)
    return replace(figures, copies=stack.tally["copies"]), visible


def _drive(
    stack: _stack.Stack, digest_id: int, count: int, profile: Path | None = None
) -> tuple[Figures, bool]:
    """Enqueue ``plan`` on the warm worker, wait for the final state; CPU and wall time.

    With ``profile``, py-spy samples the worker and its pool meanwhile (see ``_profile.Sampler``).
    """
    worker, server, url = stack.worker, stack.server, stack.url
    database = Database(url)
    sampler = None
    if profile is not None:
        sampler = _profile.Sampler([worker.process.pid], profile).start()
    postgres = _cpu.PostgresCPU(_cpu.admin_url_of(url), _cpu.database_name(url)).start()
    worker_cpu, server_cpu = worker.cpu(), server.cpu()
    started = time.perf_counter()
    try:
        stack.app.send_task("tasks.pipeline.plan", args=(digest_id,))
        _stack.wait_for(
            lambda: _state(database, digest_id) in _stack.FINAL,
            timeout=max(180.0, count / 100),
            what=f"digest {digest_id} to reach a final state (worker log: {worker.log})",
            every=0.05,
        )
        seconds = time.perf_counter() - started
        worker_cpu = worker.cpu() - worker_cpu
        server_cpu = server.cpu() - server_cpu
    finally:
        pg_cpu = postgres.stop()
        database.dispose()
        if sampler is not None:
            sampler.stop()
    return Figures(count, seconds, worker_cpu, pg_cpu, server_cpu, {}), postgres.visible


def _direct_child(url: str, host: str, key: str, digest_id: int, pipe: Any) -> None:
    """One dispatch process: dispatch, report CPU and time, keep the connections until told."""
    database = Database(url)
    sender = SendGridSender(key, host=host, timeout=30)
    started = time.time()
    cpu = time.process_time()
    dispatch(
        database,
        digest_id,
        sender,
        base_url="https://bench.example.org",
        tokens=Tokens(_stack.SECRET),
    )
    pipe.send({"started": started, "finished": time.time(), "cpu": time.process_time() - cpu})
    pipe.recv()  # the PostgreSQL backends stay until their CPU is read
    database.dispose()


def measure_direct(
    server_url: str, count: int, *, latency: float = 0.0, prefix: str = _stack.DEFAULT_PREFIX
) -> tuple[Figures, bool]:
    """Send one edition to ``count`` readers with ``dispatch`` in two processes."""
    with fresh_postgres(server_url, prefix) as url:
        digest_id = _prepare(url, count, published=False)
        with _stack.ServerProcess(latency=latency) as server:
            context = multiprocessing.get_context("spawn")
            pipes = [context.Pipe() for _ in range(DIRECT_PROCESSES)]
            postgres = _cpu.PostgresCPU(_cpu.admin_url_of(url), _cpu.database_name(url))
            postgres.start()
            server_cpu = server.cpu()
            children = [
                context.Process(
                    target=_direct_child,
                    args=(url, server.url, server.api_key, digest_id, child_end),
                )
                for _, child_end in pipes
            ]
            for child in children:
                child.start()
            try:
                outcomes = [mine.recv() for mine, _ in pipes]
                server_cpu = server.cpu() - server_cpu
            finally:
                pg_cpu = postgres.stop()
                for mine, _ in pipes:
                    mine.send("done")
                for child in children:
                    child.join(60)
            copies = server.stop()["copies"]
    seconds = max(o["finished"] for o in outcomes) - min(o["started"] for o in outcomes)
    cpu = sum(o["cpu"] for o in outcomes)
    return Figures(count, seconds, cpu, pg_cpu, server_cpu, copies), postgres.visible


def run(
    scale: float = 1.0,
    *,
    database_url: str | None = None,
    broker_url: str | None = None,
    latency: float = 0.0,
    db_prefix: str = _stack.DEFAULT_PREFIX,
    profile: Path | None = None,
) -> dict[str, float]:
    """The pipeline path beside the direct path; empty when PostgreSQL or Redis is missing."""
    urls = _stack.service_urls("pipeline", database_url, broker_url)
    if urls is None:
        return {}
    server_url, broker = urls
    count = max(100, int(READERS * scale))
    over = f", {latency * 1000:.0f} ms round trip" if latency else ""
    print(f"one edition to {count:,} readers on PostgreSQL{over}")
    pipeline, visible = measure_pipeline(
        server_url, broker, count, latency=latency, prefix=db_prefix, profile=profile
    )
    duplicates, missing = pipeline.check("pipeline")
    figures = pipeline.show("pipeline", visible)
    if profile is not None:
        print(f"  where the workers' time went (py-spy, collapsed stacks in {profile}):")
        for line in _profile.hottest(profile):
            print(f"  {line}")
    direct, visible = measure_direct(server_url, count, latency=latency, prefix=db_prefix)
    direct.check("direct")
    figures.update(direct.show("direct", visible))
    figures["duplicates"] = duplicates
    figures["missing"] = missing
    return figures
