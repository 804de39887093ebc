"""What a benchmark run costs in CPU, read from ``/proc``: processes and database backends.

``tree_cpu`` counts a process and all its descendants, dead or alive; ``PostgresCPU``
samples the server backends of one database (the server must run on this machine).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from newsletter.db import normalise_url

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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


def database_name(url: str) -> str:
    """The database part of a SQLAlchemy URL."""
    return str(make_url(normalise_url(url)).database or "")


def admin_url_of(url: str) -> str:
    """The server's maintenance database (``postgres``) on the server of ``url``."""
    parsed = make_url(normalise_url(url)).set(database="postgres")
    return parsed.render_as_string(hide_password=False)
