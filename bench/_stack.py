"""Pieces for benchmarks and fault harnesses that run the production stack by hand.

What an operator runs, started the way an operator starts it: ``celery -A tasks
worker`` child processes configured only through ``NEWSLETTER_*`` variables
(``start_worker``), the SendGrid test server in a process of its own so that its
CPU is its own (``ServerProcess``), and a fresh PostgreSQL database per run
(``fresh_postgres``). CPU is read from ``/proc`` (``tree_cpu`` for a process and
its children, ``PostgresCPU`` for the server backends of one database), so the
figures count every process, not just the one that asks.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from newsletter.db import normalise_url
from newsletter.sendgrid_testserver.server import (
    AcceptedRequest,
    RejectedRequest,
    SendGridTestServer,
)

DEFAULT_PREFIX = "newsletter_bench_"
API_KEY = "SG.bench-key"
SECRET = "bench-secret-" + "x" * 32
# Frames from these folders are the project's own (the rest: libraries, Celery, Python).
PROJECT = ("(newsletter/", "(subscribers/", "(tasks/")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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


# -- CPU from /proc ----------------------------------------------------------------------


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of ``pid`` and its reaped children; None if it is gone.

    A child's time moves into its parent's ``cutime``/``cstime`` when the parent reaps
    it, so summing this over the live processes of a tree counts each second once.
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command: state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based.
    return sum(int(value) for value in fields[11:15]) / _TICK


def _command(pid: int) -> str:
    """The command name of ``pid`` ("" if it is gone)."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as comm:
            return comm.read().strip()
    except OSError:
        return ""


def children_of(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (read from each process's parent id in /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds of these processes and all their descendants, dead or alive."""
    return sum(process_cpu(pid) or 0.0 for root in pids for pid in [root, *children_of(root)])


@dataclass
class PostgresCPU:
    """CPU of the PostgreSQL backends serving one database, sampled from ``/proc``.

    Backends come and go with connections, so a thread samples ``pg_stat_activity``
    every ``every`` seconds and keeps each backend's latest CPU; a backend that ends
    between two samples loses at most that interval. The server must run on this
    machine (its processes visible in ``/proc``); otherwise ``visible`` is False.
    """

    admin_url: str  # a database on the same server to query from (not the measured one)
    database: str
    every: float = 0.2
    _start: dict[int, float] = field(default_factory=dict)
    _last: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _engine: Engine | None = None
    visible: bool = True

    def _sample(self) -> None:
        """Read every backend of the database once."""
        assert self._engine is not None
        with self._engine.connect() as conn:
            pids = conn.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
                {"name": self.database},
            ).all()
        for pid in pids:
            cpu = process_cpu(pid) if _command(pid) == "postgres" else None
            if cpu is not None:
                self._last[pid] = cpu
            elif pid not in self._last:
                self.visible = False  # a backend this machine cannot see

    def start(self) -> PostgresCPU:
        """Note the CPU the backends have used so far and start sampling."""
        self._engine = create_engine(self.admin_url, pool_size=1)
        self._sample()
        self._start = dict(self._last)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        """Sample until stopped."""
        while not self._stop.wait(self.every):
            self._sample()

    def stop(self) -> float:
        """Take a last sample, stop, and return the backends' CPU seconds since ``start``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        if self._engine is not None:
            self._engine.dispose()
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._last.items())


# -- a fresh database --------------------------------------------------------------------


@contextmanager
def fresh_postgres(server_url: str, prefix: str = DEFAULT_PREFIX) -> Iterator[str]:
    """A new PostgreSQL database named ``<prefix><random>`` on ``server_url``, dropped after."""
    admin_url = make_url(normalise_url(server_url))
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def database_name(url: str) -> str:
    """The database part of a SQLAlchemy URL."""
    return str(make_url(normalise_url(url)).database or "")


def admin_url_of(url: str) -> str:
    """The server's maintenance database (``postgres``) on the server of ``url``."""
    parsed = make_url(normalise_url(url)).set(database="postgres")
    return parsed.render_as_string(hide_password=False)


# -- the SendGrid test server in a process of its own --------------------------------------


class TallyServer(SendGridTestServer):
    """The test server, counting the copies each address was accepted for (no request kept)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.copies: Counter[str] = Counter()
        self.requests = 0
        self._tally_lock = threading.Lock()

    def _record(self, item: AcceptedRequest | RejectedRequest) -> None:
        if isinstance(item, AcceptedRequest):
            recipients = item.recipients
            with self._tally_lock:
                self.copies.update(recipients)
                self.requests += 1
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
        """Stop the server; what it accepted: ``copies`` per address, ``requests``, ``rejected``."""
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


# -- where the time goes: py-spy ---------------------------------------------------------


def py_spy() -> str | None:
    """The ``py-spy`` executable beside this Python or on the PATH, if installed."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Sampler:
    """``py-spy record`` on processes and their children, writing collapsed stacks to ``out``.

    Sampling happens from outside, so the sampled processes' CPU is not inflated
    as with cProfile; idle threads (waiting on a socket) are not sampled.
    """

    pids: list[int]
    out: Path
    rate: int = 200
    _spies: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> Sampler:
        """Start one ``py-spy record`` per process."""
        exe = py_spy()
        if exe is None:
            raise RuntimeError("profiling needs py-spy (pip install py-spy)")
        for n, pid in enumerate(self.pids):
            # --gil: only a thread holding the GIL is sampled, so waits on PostgreSQL,
            # Redis or the provider (which release it) do not count as time spent.
            argv = [exe, "record", "--pid", str(pid), "--subprocesses", "--gil", "--function"]
            argv += ["--format", "raw", "--rate", str(self.rate), "--output", f"{self.out}.{n}"]
            self._spies.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            )
        time.sleep(0.5)  # py-spy attaches before the measured work begins
        return self

    def stop(self) -> Path:
        """Stop sampling (py-spy writes its file on SIGINT); the merged collapsed stacks."""
        with self.out.open("w", encoding="utf-8") as merged:
            for n, spy in enumerate(self._spies):
                spy.send_signal(signal.SIGINT)
                _, err = spy.communicate(timeout=60)
                part = Path(f"{self.out}.{n}")
                if not part.exists():
                    raise RuntimeError(f"py-spy wrote no {part}: {err.decode(errors='replace')}")
                merged.write(part.read_text(encoding="utf-8"))
                part.unlink()
        return self.out


def hottest(stacks: Path, limit: int = 25) -> list[str]:
    """The functions with most samples in a collapsed-stack file, by own and inclusive time."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text(encoding="utf-8").splitlines():
        frames_text, _, count_text = line.rpartition(" ")
        if not frames_text or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in frames_text.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples; own time:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(limit)]
    lines.append("inclusive time, the project's own functions:")
    ours = [(f, n) for f, n in inclusive.most_common() if any(p in f for p in PROJECT)]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in ours[:limit]]
    return lines
