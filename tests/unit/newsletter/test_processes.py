"""The process supervisor behind ``newsletter worker|beat|run``: start, forward, stop, kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter import processes
from newsletter.cli import app
from newsletter.processes import Child, Supervisor, die_with_parent
from tests.integration.pipeline_stack import wait_until
from tests.proctree import descendants, require_proc, wait_all_gone

# A child that records a graceful stop, so the test can tell SIGTERM from SIGKILL.
GRACEFUL = """
import pathlib, signal, sys, time
marker = pathlib.Path(sys.argv[1])
def stop(*_):
    marker.write_text("stopped gracefully")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
marker.with_suffix(".ready").write_text("ready")
while True:
    time.sleep(0.05)
"""
STUBBORN = """
import pathlib, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).with_suffix(".ready").write_text("ready")
while True:
    time.sleep(0.05)
"""

# A supervisor in its own process, running two children that would sleep for ten minutes.
SUPERVISOR = """
import sys
from newsletter.processes import Child, Supervisor
sleeper = (sys.executable, "-c", "import time; time.sleep(600)")
Supervisor([Child("a", sleeper), Child("b", sleeper)], grace=5, log=print).run()
"""


def child(name: str, script: str, marker: Path) -> Child:
    """A Python child process running ``script`` with ``marker`` as its argument."""
    return Child(name, (sys.executable, "-c", script, str(marker)))


def stop_when_ready(supervisor: Supervisor, *markers: Path) -> threading.Thread:
    """Ask the supervisor to stop (as SIGTERM would) once every child is ready."""

    def wait_then_stop() -> None:
        ready = [m.with_suffix(".ready") for m in markers]
        event = threading.Event()
        while not all(path.exists() for path in ready):
            event.wait(0.02)
        supervisor.request_stop(signal.SIGTERM)

    thread = threading.Thread(target=wait_then_stop)
    thread.start()
    return thread


def test_stop_request_is_forwarded_and_children_stop_gracefully(tmp_path: Path) -> None:
    """On SIGTERM every child gets SIGTERM and finishes its work; the exit code is 0."""
    markers = [tmp_path / "web", tmp_path / "worker"]
    supervisor = Supervisor([child(m.name, GRACEFUL, m) for m in markers], grace=10, log=print)
    waiter = stop_when_ready(supervisor, *markers)
    assert supervisor.run() == 0
    waiter.join()
    assert [m.read_text() for m in markers] == ["stopped gracefully"] * 2


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    """A child still running after the grace period is killed."""
    marker = tmp_path / "stubborn"
    supervisor = Supervisor([child("stubborn", STUBBORN, marker)], grace=0.3, log=print)
    waiter = stop_when_ready(supervisor, marker)
    assert supervisor.run() == 0
    waiter.join()
    assert supervisor.processes["stubborn"].returncode == -signal.SIGKILL


def test_a_child_that_exits_stops_the_others(tmp_path: Path) -> None:
    """When one child dies the others are stopped and the exit code is non-zero."""
    marker = tmp_path / "worker"
    dying = Child("beat", (sys.executable, "-c", "import sys; sys.exit(3)"))
    supervisor = Supervisor([child("worker", GRACEFUL, marker), dying], grace=10, log=print)
    assert supervisor.run() == 3
    assert supervisor.processes["worker"].returncode is not None


def test_commands_build_the_expected_children(
    monkeypatch: pytest.MonkeyPatch, cli_env: dict[str, str]
) -> None:
    """worker/beat run ``celery -A tasks <role>`` with extra options; run starts all three."""
    started: list[list[str]] = []

    def fake_run(self: Supervisor) -> int:
        started.append([c.name for c in self.children])
        started.append(list(self.children[-1].argv))
        return 0

    monkeypatch.setattr(Supervisor, "run", fake_run)
    runner = CliRunner()
    result = runner.invoke(app, ["worker", "--concurrency", "8"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert started[1][-5:] == ["tasks", "worker", "--loglevel=INFO", "--concurrency", "8"]
    assert runner.invoke(app, ["beat"], env=cli_env).exit_code == 0
    assert started[2] == ["beat"]
    assert runner.invoke(app, ["run", "--grace", "5"], env=cli_env).exit_code == 0
    assert started[4] == ["web", "worker", "beat"]
    assert processes.web_command().argv[1:] == ("-m", "newsletter", "web")


def test_children_count_their_metrics_in_one_folder(
    monkeypatch: pytest.MonkeyPatch, cli_env: dict[str, str]
) -> None:
    """The supervisor gives every child PROMETHEUS_MULTIPROC_DIR (NEWSLETTER_METRICS_DIR)."""
    envs: list[dict[str, str]] = []

    def fake_run(self: Supervisor) -> int:
        envs.append(dict(self.env or {}))
        return 0

    monkeypatch.setattr(Supervisor, "run", fake_run)
    folder = Path(cli_env["NEWSLETTER_DATA_DIR"]) / "counts"
    env = {**cli_env, "NEWSLETTER_METRICS_DIR": str(folder)}
    assert CliRunner().invoke(app, ["worker"], env=env).exit_code == 0
    assert envs[0]["PROMETHEUS_MULTIPROC_DIR"] == str(folder)
    assert folder.is_dir()


def test_children_die_with_a_supervisor_killed_by_sigkill() -> None:
    """SIGKILL of the supervisor kills its children too: none is left running with parent 1."""
    require_proc()
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR])
    try:
        children = wait_until(
            lambda: len(found := descendants(supervisor.pid)) == 2 and found,
            timeout=60,
            what="the supervisor's two children",
        )
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(timeout=30)
        wait_all_gone(children, timeout=30)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def test_no_parent_death_signal_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where prctl does not exist the supervisor says so instead of pretending."""
    monkeypatch.setattr(processes, "_PRCTL", None)
    assert die_with_parent(os.getpid()) is None
    lines: list[str] = []
    supervisor = Supervisor([Child("quick", (sys.executable, "-c", "pass"))], log=lines.append)
    supervisor.start()
    supervisor.processes["quick"].wait(timeout=30)
    assert "no parent-death signal" in lines[0]
