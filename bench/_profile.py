"""Where a benchmark's time goes: ``py-spy`` sampling from outside, and the hottest frames."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Frames from these folders are the project's own (the rest: libraries, Celery, Python).
PROJECT = ("(newsletter/", "(subscribers/", "(tasks/")


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
