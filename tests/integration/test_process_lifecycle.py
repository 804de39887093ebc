"""No orphans: ``newsletter run`` killed with SIGKILL takes every process it started with it.

A real ``python -m newsletter run`` (web app, Celery worker with its prefork pool, beat)
on the embedded defaults (SQLite, filesystem broker), so no service is needed. The
test waits until every process is up, SIGKILLs the supervisor alone, and then watches
/proc until each descendant it saw is gone, with a deadline and no fixed sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.pipeline_stack import free_port, wait_until
from tests.proctree import Proc, descendants, require_proc, running, wait_all_gone

pytestmark = [pytest.mark.slow]

# What each child prints once it is fully up (the worker only after forking its pool).
READY = {"web": "Uvicorn running on", "worker": " ready.", "beat": "beat: Starting"}


def _env(data_dir: Path) -> dict[str, str]:
    """A fresh embedded deployment: only the data directory and a free web port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env["NEWSLETTER_DATA_DIR"] = str(data_dir)
    env["NEWSLETTER_WEB_PORT"] = str(free_port())
    return env


def _all_up(log: Path, supervisor: int) -> list[Proc] | None:
    """The supervisor's descendants once every child says it is ready, else None."""
    text = log.read_text(errors="replace")
    if not all(marker in text for marker in READY.values()):
        return None
    return descendants(supervisor)


def test_killed_run_leaves_no_process_behind(tmp_path: Path) -> None:
    """SIGKILL of ``newsletter run`` ends its web app, worker, the worker's pool and beat."""
    require_proc()
    log = tmp_path / "run.log"
    procs: list[Proc] = []
    with log.open("wb") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "run", "--grace", "5"],
            cwd=tmp_path,
            env=_env(tmp_path / "var"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        procs = wait_until(
            lambda: _all_up(log, supervisor.pid),
            timeout=120,
            what=f"web, worker and beat to be ready (log: {log})",
        )
        workers = [p for p in procs if "tasks worker" in p.cmdline]
        # The worker's main process and at least one prefork pool child.
        assert len(workers) >= 2, procs
        assert any("tasks beat" in p.cmdline for p in procs), procs
        assert any("newsletter web" in p.cmdline for p in procs), procs
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(timeout=30)
        wait_all_gone(procs, timeout=60)
    except AssertionError:
        print(log.read_text(errors="replace")[-6000:])
        raise
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
        for proc in procs:  # survivors only if the test failed: leak nothing
            if running(proc):
                os.kill(proc.pid, signal.SIGKILL)
