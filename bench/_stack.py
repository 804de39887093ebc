"""Pieces for benchmarks and fault harnesses that run the production stack by hand.

What an operator runs, started the way an operator starts it: ``celery -A tasks
worker`` child processes configured only through ``NEWSLETTER_*`` variables
(``start_worker``), the SendGrid test server in a process of its own so that its
CPU is its own (``ServerProcess``); each run's fresh PostgreSQL database comes from
``tests.scratchdb.fresh_postgres``. CPU is read from ``/proc`` (``tree_cpu`` for a
process and its children, ``PostgresCPU`` for the server backends of one database),
so the figures count every process, not just the one that asks.

``service_urls``, ``scratch`` and ``running`` are the start-up the stack benchmarks
(``bench alert``, ``bench pipeline``) share: which PostgreSQL server and Redis broker,
a scratch folder and database, then an emptied broker, the test server and a warm
worker.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench._cpu import admin_url_of, database_name, process_cpu, tree_cpu
from newsletter.digests.models import DigestState
from newsletter.sendgrid_testserver.server import (
    AcceptedRequest,
    RejectedRequest,
    SendGridTestServer,
)
from tests.scratchdb import fresh_postgres

DEFAULT_PREFIX = "newsletter_bench_"
API_KEY = "SG.bench-key"
SECRET = "bench-secret-" + "x" * 32
FINAL = (DigestState.SENT, DigestState.PARTIALLY_FAILED, DigestState.FAILED)


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something true; raise naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


# -- the SendGrid test server in a process of its own --------------------------------------


class TallyServer(SendGridTestServer):
    """The test server, counting the copies each address was accepted for (no request kept)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.copies: Counter[str] = Counter()
        self.requests = 0
        self.last_at = 0.0  # wall-clock time of the last accepted request (0: none)
        self._tally_lock = threading.Lock()

    def _record(self, item: AcceptedRequest | RejectedRequest) -> None:
        if isinstance(item, AcceptedRequest):
            recipients = item.recipients
            with self._tally_lock:
                self.copies.update(recipients)
                self.requests += 1
                self.last_at = time.time()
        else:
            super()._record(item)


def _serve(latency: float, api_key: str, pipe: Any) -> None:
    """The server process: serve until told to stop, then send back what was accepted."""
    server = TallyServer(api_key=api_key, latency=latency)
    server.start()
    try:
        pipe.send({"url": server.url, "public_key": server.public_key})
        pipe.recv()  # the stop request
    finally:
        server.stop()
    pipe.send(
        {
            "copies": dict(server.copies),
            "requests": server.requests,
            "rejected": len(server.rejected),
            "last_at": server.last_at,
        }
    )


@dataclass
class ServerProcess:
    """The SendGrid test server in a spawned process; ``tally`` is filled in by ``stop``."""

    latency: float = 0.0
    api_key: str = API_KEY
    url: str = ""
    public_key: str = ""
    pid: int = 0
    tally: dict[str, Any] = field(default_factory=dict)
    _process: Any = None
    _pipe: Any = None

    def start(self) -> ServerProcess:
        """Start the server process and wait until it listens."""
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(self.latency, self.api_key, child_end), daemon=True
        )
        self._process.start()
        process = self._process
        started = wait_for(
            lambda: self._pipe.poll(0.1) or not process.is_alive(),
            timeout=60,
            what="the SendGrid test server process to listen",
            every=0,
        )
        if started and not self._pipe.poll():
            raise RuntimeError(f"the SendGrid test server process exited ({process.exitcode})")
        hello = self._pipe.recv()
        self.url, self.public_key = hello["url"], hello["public_key"]
        self.pid = int(self._process.pid)
        return self

    def cpu(self) -> float:
        """The server process's CPU seconds so far."""
        return process_cpu(self.pid) or 0.0

    def stop(self) -> dict[str, Any]:
        """Stop the server; what it accepted: ``copies`` per address, ``requests``, ``rejected``,
        and ``last_at``, the wall-clock time it accepted the last request."""
        if self._process is None:
            return self.tally
        self._pipe.send("stop")
        if not self._pipe.poll(120):
            raise TimeoutError("the SendGrid test server process did not report within 120 s")
        self.tally = self._pipe.recv()
        self._process.join(30)
        self._process = None
        return self.tally

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(30)
        self._process = None


# -- Celery workers ------------------------------------------------------------------------


def stack_env(
    *,
    data_dir: Path,
    database_url: str,
    broker_url: str,
    server: ServerProcess | None = None,
    batch_size: int = 1000,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The ``NEWSLETTER_*`` environment of a deployment (every other such variable dropped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        {
            "NEWSLETTER_DATA_DIR": str(data_dir),
            "NEWSLETTER_DATABASE_URL": database_url,
            "NEWSLETTER_BROKER_URL": broker_url,
            "NEWSLETTER_SECRET_KEY": SECRET,
            "NEWSLETTER_BASE_URL": "https://bench.example.org",
            "NEWSLETTER_DISPATCH_BATCH_SIZE": str(batch_size),
        }
    )
    if server is not None:
        env["NEWSLETTER_EMAIL_BACKEND"] = "sendgrid"
        env["NEWSLETTER_SENDGRID_API_HOST"] = server.url
        env["NEWSLETTER_SENDGRID_API_KEY"] = server.api_key
        env["NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY"] = server.public_key
    env.update(extra or {})
    return env


@dataclass
class Worker:
    """One ``celery -A tasks worker`` child process and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def ready(self) -> bool:
        """Whether the worker said it is ready (or raise if it died first)."""
        if self.process.poll() is not None:
            raise RuntimeError(
                f"worker {self.name} exited with {self.process.returncode}:\n"
                + self.log.read_text(errors="replace")[-4000:]
            )
        return " ready." in self.log.read_text(errors="replace")

    def cpu(self) -> float:
        """CPU seconds of the worker and its pool processes."""
        return tree_cpu([self.process.pid])

    def stop(self, timeout: float = 60) -> int:
        """Warm shutdown (SIGTERM to its process group), then SIGKILL; the exit code."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except ProcessLookupError:
            pass  # the group is gone already
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait()


def start_worker(
    root: Path,
    env: dict[str, str],
    name: str = "worker",
    *,
    concurrency: int = 2,
    pool: str = "prefork",
) -> Worker:
    """Start ``celery -A tasks worker`` in its own session, logging to ``<root>/<name>.log``."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tasks",
        "worker",
        "--loglevel=INFO",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        f"-n={name}@%h",
    ]
    log = root / f"{name}.log"
    with log.open("ab") as handle:  # the child keeps its own copy
        process = subprocess.Popen(
            argv, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Worker(name, process, log)


# -- the stack benchmarks' start-up ---------------------------------------------------------


def _env_url(*names: str) -> str:
    """The first of these environment variables that is set, or ""."""
    return next((os.environ[name] for name in names if os.environ.get(name)), "")


def service_urls(
    name: str, database_url: str | None, broker_url: str | None
) -> tuple[str, str] | None:
    """The PostgreSQL server and Redis broker for benchmark ``name``: the arguments, else
    ``NEWSLETTER_BENCH_*``, else ``NEWSLETTER_TEST_*``; None, saying it skipped, when
    either is missing."""
    server_url = (
        database_url
        if database_url is not None
        else _env_url("NEWSLETTER_BENCH_DATABASE_URL", "NEWSLETTER_TEST_DATABASE_URL")
    )
    broker = (
        broker_url
        if broker_url is not None
        else _env_url("NEWSLETTER_BENCH_BROKER_URL", "NEWSLETTER_TEST_REDIS_URL")
    )
    if not server_url or not broker.startswith("redis"):
        print(f"{name}: skipped (needs --database-url for PostgreSQL and a redis:// --broker-url)")
        return None
    return server_url, broker


@contextmanager
def scratch(server_url: str, prefix: str) -> Iterator[tuple[Path, str]]:
    """A temporary folder and a fresh database on ``server_url``, both gone afterwards."""
    with tempfile.TemporaryDirectory() as folder, fresh_postgres(server_url, prefix) as url:
        yield Path(folder), url


@dataclass
class Stack:
    """A running deployment: the test server, a ready worker, and a Celery app to send
    tasks with; ``tally`` is what the server accepted, filled in when it stops."""

    root: Path
    url: str
    broker_url: str
    server: ServerProcess
    worker: Worker
    app: Any
    tally: dict[str, Any] = field(default_factory=dict)


@contextmanager
def running(
    root: Path,
    url: str,
    broker_url: str,
    *,
    latency: float = 0.0,
    batch_size: int = 1000,
    warm_digest: int = 0,
) -> Iterator[Stack]:
    """The broker emptied, the SendGrid test server, and one worker on database ``url``,
    ready and warm (``warm_up`` with ``warm_digest``); on leaving, the worker and the
    server stopped (``Stack.tally``) and the broker emptied again."""
    # Imported here: the test server's own process imports this module, without Celery.
    import redis

    from newsletter.settings import Settings
    from tasks.app import make_celery

    queue = redis.Redis.from_url(broker_url)
    queue.flushdb()
    try:
        with ServerProcess(latency=latency) as server:
            env = stack_env(
                data_dir=root / "var",
                database_url=url,
                broker_url=broker_url,
                server=server,
                batch_size=batch_size,
            )
            worker = start_worker(root, env)
            try:
                wait_for(worker.ready, timeout=120, what=f"{worker.name} to be ready")
                app = make_celery(
                    Settings(data_dir=root / "var", database_url=url, broker_url=broker_url)
                )
                try:
                    warm_up(app, url, warm_digest)
                    stack = Stack(root, url, broker_url, server, worker, app)
                    yield stack
                finally:
                    app.close()
            finally:
                worker.stop()
            stack.tally = server.stop()
    finally:
        queue.flushdb()
        queue.close()


def warm_up(app: Any, url: str, digest_id: int, processes: int = 2) -> None:
    """Run the idle ``finalise`` step until each pool process holds its runtime and connection.

    A long-running worker builds its runtime (settings, engine, sender) once, on its
    first task; the benchmarks measure the steady state, so that happens before.
    """
    name = database_name(url)
    admin = create_engine(admin_url_of(url), pool_size=1)

    def connected() -> bool:
        # A burst: an idle process takes the next task, so one at a time would all go
        # to the same process; several at once keep every process busy.
        for _ in range(processes * 2):
            app.send_task("tasks.pipeline.finalise", args=(digest_id,))
        with admin.connect() as conn:
            backends = conn.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"),
                {"name": name},
            )
        return int(backends or 0) >= processes

    try:
        wait_for(connected, timeout=60, what="the pool processes to connect", every=0.5)
    finally:
        admin.dispose()
