"""``newsletter worker``, ``newsletter beat`` and ``newsletter run``: the long-running processes.

Each command applies pending migrations once, then runs its process(es) as children:
``worker`` is ``celery -A tasks worker``, ``beat`` is ``celery -A tasks beat``, and
``run`` starts the web app, one worker and one beat together for a single machine.

Shutdown: on SIGINT or SIGTERM the supervisor sends SIGTERM to every child (a Celery
worker then finishes its current tasks; uvicorn drains its requests), waits up to
``--grace`` seconds, and kills what is left. Nothing is lost even then: the database
ledger is the truth, and the next tick resumes whatever a killed child left open.

No orphans: on Linux every child is started with a parent-death signal (SIGKILL), so
when the supervisor dies, even by SIGKILL, its children die with it; a Celery worker's
pool processes carry the same signal from Celery itself and follow their worker. An
orphaned worker would otherwise keep consuming the shared queue for the next deployment.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

import click

from newsletter.console import err

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from newsletter.db import Database
    from newsletter.digests.models import DigestState
    from newsletter.runtime import Runtime
    from newsletter.settings import Settings

POLL_S = 0.2
# <sys/prctl.h>: the signal the calling process gets when the thread that made it dies.
PR_SET_PDEATHSIG = 1
# Digest states after which the demo's wait ends (their values: the models load on use).
FINAL_STATES = frozenset({"sent", "partially_failed", "failed", "skipped"})


@dataclass(frozen=True)
class Child:
    """One process to run: a name for the log and its command line."""

    name: str
    argv: tuple[str, ...]


def celery_command(role: str, extra: Sequence[str] = ()) -> Child:
    """``celery -A tasks worker|beat`` under this interpreter, with extra arguments."""
    argv = (sys.executable, "-m", "celery", "-A", "tasks", role, "--loglevel=INFO", *extra)
    return Child(role, argv)


def web_command() -> Child:
    """``newsletter web`` under this interpreter."""
    return Child("web", (sys.executable, "-m", "newsletter", "web"))


def _load_prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` on Linux, loaded once in the supervisor (never in a forked child)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


_PRCTL = _load_prctl()


def die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child get SIGKILL when ``parent_pid`` dies (Linux only).

    Runs in the forked child before ``exec``; the signal survives ``exec``. If the parent
    died between ``fork`` and ``prctl``, no signal would come, so the child checks that its
    parent is still ``parent_pid`` and kills itself otherwise. The signal is tied to the
    parent's *thread* that started the child: start children from a thread that lives as
    long as the supervisor (``run`` does, from the main thread).
    """
    prctl = _PRCTL
    if prctl is None:
        return None

    def preexec() -> None:
        """Ask for SIGKILL on the parent's death; die now if the parent is already gone."""
        if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            # Popen raises in the supervisor: no child starts without the guarantee.
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


@dataclass
class Supervisor:
    """Runs children until one stops or a signal arrives, then stops them all gracefully."""

    children: Sequence[Child]
    grace: float = 60.0
    env: Mapping[str, str] | None = None
    log: Callable[[str], None] = lambda line: err.print(line, markup=False)
    # Where the children's stdout and stderr go (default: this process's terminal).
    output: IO[str] | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _stop_signal: int | None = None

    def start(self) -> None:
        """Start every child in its own session (only we decide when it stops), tied to our life.

        Its own session keeps a terminal's Ctrl+C from reaching it directly (the
        supervisor stops it gracefully instead); the parent-death signal kills it if
        the supervisor itself is killed (see ``die_with_parent``).
        """
        preexec = die_with_parent(os.getpid())
        if preexec is None:
            self.log(f"no parent-death signal on {sys.platform}: children may outlive a kill -9")
        for child in self.children:
            self.processes[child.name] = subprocess.Popen(  # noqa: S603 - argv list, no shell
                child.argv,
                env=dict(self.env) if self.env is not None else None,
                start_new_session=True,
                preexec_fn=preexec,  # only prctl, getppid and kill: takes no lock
                stdout=self.output,
                stderr=subprocess.STDOUT if self.output is not None else None,
            )
            self.log(f"started {child.name} (pid {self.processes[child.name].pid})")

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        """Signal handler: remember the request; the loop in ``run`` acts on it."""
        self._stop_signal = signum

    def exited(self) -> list[str]:
        """Names of children that have exited."""
        return [name for name, proc in self.processes.items() if proc.poll() is not None]

    def stop(self) -> None:
        """Send SIGTERM to every running child, wait up to ``grace``, then SIGKILL the rest."""
        for name, proc in self.processes.items():
            if proc.poll() is None:
                self.log(f"stopping {name} (pid {proc.pid})")
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for name, proc in self.processes.items():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{name} did not stop within {self.grace:g} s: killing it")
                proc.kill()
                proc.wait()

    def run(self) -> int:
        """Start, supervise and stop; the exit code is 0 after a requested stop."""
        previous = {
            sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.start()
            while self._stop_signal is None and not self.exited():
                time.sleep(POLL_S)
            failed = self.exited()
            if failed and self._stop_signal is None:
                self.log(f"{', '.join(failed)} exited: stopping the others")
            self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._stop_signal is not None:
            return 0
        return max((proc.returncode or 0) for proc in self.processes.values()) or 1


def wake_scheduler(rt: Runtime) -> None:
    """Ask for a scheduler tick now rather than at the next beat (``digest send-now``).

    Raises when the broker cannot be reached; the beat's next tick does the work then.
    """
    from tasks.app import TICK_TASK, make_celery

    make_celery(rt.settings).send_task(TICK_TASK, retry=False)


def send_through_worker(
    settings: Settings,
    slug: str,
    *,
    timeout: float = 180.0,
    tick_every: float = 2.0,
    log: Callable[[str], None] = lambda line: err.print(line, markup=False),
    output: IO[str] | None = None,
) -> DigestState | None:
    """Send today's edition of ``slug`` now through a real worker process, then stop it.

    What ``newsletter demo`` runs: the edition is scheduled as ``digest send-now``
    does, a ``celery -A tasks worker`` child does every step, and this process plays
    the beat (a tick every ``tick_every`` seconds) until the digest reaches a final
    state or ``timeout`` passes. Returns the digest's state (None if never assembled).
    """
    from newsletter.db import Database
    from newsletter.schedules.editions import send_now
    from tasks.app import TICK_TASK, make_celery

    database = Database(settings.database_url)
    try:
        with database.session() as session:
            edition = send_now(session, slug)
            edition_id = edition.id
        celery = make_celery(settings)
        env = {
            **os.environ,
            # The worker must see the same deployment as these settings, however built.
            "NEWSLETTER_DATA_DIR": str(settings.data_dir),
            "NEWSLETTER_DATABASE_URL": settings.database_url,
            "NEWSLETTER_BROKER_URL": settings.broker_url,
            "NEWSLETTER_EMAIL_BACKEND": settings.email_backend.value,
        }
        worker = Supervisor(
            [celery_command("worker", ("--concurrency=2",))],
            grace=30,
            env=env,
            log=log,
            output=output,
        )
        worker.start()
        try:
            state = _wait_final(database, edition_id, celery, TICK_TASK, timeout, tick_every)
        finally:
            worker.stop()
    finally:
        database.dispose()
    return state


def _wait_final(
    database: Database,
    edition_id: int,
    celery: Any,
    tick_task: str,
    timeout: float,
    tick_every: float,
) -> DigestState | None:
    from newsletter.digests.models import Digest
    from newsletter.schedules.models import EditionState, ScheduledEdition

    deadline = time.monotonic() + timeout
    next_tick = 0.0
    state: DigestState | None = None
    while time.monotonic() < deadline:
        if time.monotonic() >= next_tick:
            celery.send_task(tick_task)
            next_tick = time.monotonic() + tick_every
        with database.session() as session:
            edition = session.get(ScheduledEdition, edition_id)
            assert edition is not None
            digest = session.get(Digest, edition.digest_id) if edition.digest_id else None
            state = digest.state if digest is not None else None
            if edition.state in (EditionState.MISSED, EditionState.CANCELLED):
                return state
        if state in FINAL_STATES:
            return state
        time.sleep(POLL_S)
    return state


def _supervise(
    ctx: click.Context, children: Sequence[Child], grace: float, *, serve_metrics: bool = False
) -> None:
    from newsletter.clicontext import runtime
    from newsletter.settings import METRICS_ENV, metrics_environment

    rt = runtime(ctx)  # builds the runtime and applies pending migrations once, before any child
    # Every child counts its Prometheus metrics in the same folder (newsletter.metrics).
    counts = metrics_environment(rt.settings)
    env = {**os.environ, **counts}
    port = rt.settings.worker_metrics_port
    if serve_metrics and port:
        serve_counters(rt.settings.worker_metrics_host, port, counts[METRICS_ENV])
    code = Supervisor(children, grace=grace, env=env).run()
    ctx.exit(code)


def serve_counters(host: str, port: int, folder: str) -> WSGIServer | None:
    """Serve the counters every process of this machine wrote to ``folder`` as Prometheus
    text on ``host:port`` (any path), from a thread of this process; the server, or None,
    said on stderr, when the port is taken (another worker of the machine serves the
    same counters, or something else listens there)."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        err.print(
            f"NEWSLETTER_WORKER_METRICS_PORT: cannot listen on {host}:{port} ({exc.strerror}); "
            "this worker serves no metrics",
            markup=False,
        )
        return None
    err.print(f"worker metrics on http://{host}:{port}/metrics", markup=False)
    return server


option_grace = click.option(
    "--grace",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="Seconds to let children finish their work on shutdown before killing them.",
)
_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": False}


@click.command("worker", context_settings=_PASS_THROUGH)
@option_grace
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def worker(ctx: click.Context, grace: float, celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker (extra arguments go to ``celery worker``, e.g. --concurrency 8)."""
    _supervise(ctx, [celery_command("worker", celery_args)], grace, serve_metrics=True)


@click.command("beat", context_settings=_PASS_THROUGH)
@option_grace
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def beat(ctx: click.Context, grace: float, celery_args: tuple[str, ...]) -> None:
    """Run the Celery beat that ticks the scheduler (run exactly one; two are harmless)."""
    _supervise(ctx, [celery_command("beat", celery_args)], grace)


@click.command("run")
@option_grace
@click.pass_context
def run(ctx: click.Context, grace: float) -> None:
    """Run the web app, a worker and the beat together (one machine)."""
    _supervise(ctx, [web_command(), celery_command("worker"), celery_command("beat")], grace)
