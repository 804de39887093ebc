"""Reading the process tree from /proc, for tests that kill supervisors and look for orphans.

A process is identified by its pid *and* its start time, so a pid reused by an
unrelated process after the original died is never mistaken for a survivor. A zombie
(exited, not yet reaped by whoever adopted it) counts as gone: it runs no code.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    """One process: pid, start time (clock ticks since boot) and command line."""

    pid: int
    started: int
    cmdline: str


def require_proc() -> None:
    """Skip on systems without a Linux /proc (the parent-death signal is Linux-only too)."""
    if not sys.platform.startswith("linux") or not (PROC / "self" / "stat").exists():
        pytest.skip("process-tree tests need Linux /proc")


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of ``pid``, or None if it no longer exists."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may hold spaces: split after its last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _cmdline(pid: int) -> str:
    """The command line of ``pid`` (empty if it is gone)."""
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def descendants(pid: int) -> list[Proc]:
    """Every living descendant of ``pid`` (children, grandchildren, ...), found by parent pid."""
    parents: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] != "Z":
                parents.setdefault(stat[1], []).append(int(entry.name))
    found: list[Proc] = []
    todo = list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        stat = _stat(child)
        if stat is not None:
            found.append(Proc(child, stat[2], _cmdline(child)))
        todo.extend(parents.get(child, []))
    return found


def running(proc: Proc) -> bool:
    """Whether this very process (same pid and start time) still runs (a zombie does not)."""
    stat = _stat(proc.pid)
    return stat is not None and stat[0] != "Z" and stat[2] == proc.started


def wait_all_gone(procs: list[Proc], *, timeout: float) -> None:
    """Wait until none of ``procs`` runs; fail naming the survivors at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in procs if running(p)]
        if not left:
            return
        if time.monotonic() > deadline:
            names = ", ".join(f"{p.pid} ({p.cmdline[:80]})" for p in left)
            raise AssertionError(f"still running {timeout:g} s after the supervisor died: {names}")
        time.sleep(0.05)
