"""Pieces for benchmarks and fault harnesses that run the production stack by hand.

What an operator runs, started the way an operator starts it: ``celery -A tasks
worker`` child processes configured only through ``NEWSLETTER_*`` variables
(``start_worker``), the SendGrid test server in a process of its own so that its
CPU is its own (``ServerProcess``); each run's fresh PostgreSQL database comes from
``tests.scratchdb.fresh_postgres``. CPU is read from ``/proc`` (``tree_cpu`` for a
process and its children, ``PostgresCPU`` for the server backends of one database),
so the figures count every process, not just the one that asks.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._cpu import process_cpu, tree_cpu
from newsletter.sendgrid_testserver.server import (
    AcceptedRequest,
    RejectedRequest,
    SendGridTestServer,
)

DEFAULT_PREFIX = "newsletter_bench_"
API_KEY = "SG.bench-key"
SECRET = "bench-secret-" + "x" * 32


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
