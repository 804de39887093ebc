"""A whole deployment for pipeline tests: real worker and beat processes, a database, a broker.

``Stack`` starts, in this order: the SendGrid test server and the web app (for the
signed event webhook) in this process, then ``celery -A tasks worker`` and
``celery -A tasks beat`` as child processes configured only through ``NEWSLETTER_*``
variables, exactly as an operator would run them. Tests wait on conditions with a
deadline (``wait_until``), never for a fixed time. ``redis_stack`` is the deployment
the Redis-broker tests share: its services started on an emptied broker, and every
process stopped and the broker emptied after.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
import uvicorn
from sqlalchemy import func, select

from newsletter import migrate
from newsletter.db import Database, utcnow
from newsletter.delivery.models import BatchState, Delivery, DeliveryState, SendBatch
from newsletter.digests.models import Digest, DigestState
from newsletter.schedules import editions
from newsletter.sendgrid_testserver.events import generate_signing_key, public_key_b64
from newsletter.sendgrid_testserver.server import SendGridTestServer
from newsletter.settings import Settings
from tests import services as test_services
from tests.unit.newsletter.schedules import seed

API_KEY = "SG.pipeline-test-key"
SECRET = "pipeline-integration-secret-0123456789abcdef"
FINAL = (DigestState.SENT, DigestState.PARTIALLY_FAILED, DigestState.FAILED)
# How long the test server keeps retrying a webhook post the web app did not take.
EVENT_RETRY_S = 10.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.1
) -> Any:
    """Poll ``condition`` until it returns something true; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


@dataclass
class Stack:
    """One deployment under test; see the module docstring."""

    root: Path
    database_url: str
    broker_url: str = ""
    email_backend: str = "sendgrid"
    batch_size: int = 500
    # More ``NEWSLETTER_*`` variables for every process (e.g. a short freshness window).
    extra_env: dict[str, str] = field(default_factory=dict)
    server: SendGridTestServer | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _web: uvicorn.Server | None = None
    _web_port: int = 0
    _web_thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def data_dir(self) -> Path:
        """The deployment's data directory."""
        return self.root / "var"

    def env(self) -> dict[str, str]:
        """The environment every process of the deployment gets."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        env.update(
            {
                "NEWSLETTER_DATA_DIR": str(self.data_dir),
                "NEWSLETTER_DATABASE_URL": self.database_url,
                "NEWSLETTER_BROKER_URL": self.broker_url,
                "NEWSLETTER_SECRET_KEY": SECRET,
                "NEWSLETTER_EMAIL_BACKEND": self.email_backend,
                # ISO 8601 durations: tick every second, give up on a silent step or
                # claim within seconds, so crash recovery is visible in a test's time.
                "NEWSLETTER_TICK_INTERVAL": "PT1S",
                "NEWSLETTER_STALL_AFTER": "PT3S",
                "NEWSLETTER_DISPATCH_LEASE": "PT8S",
                # Events for an accepted batch must arrive within this window, or the
                # batch is sent again. The test server retries a failed webhook post as
                # SendGrid does, but for EVENT_RETRY_S (SendGrid: 24 hours), which fits
                # inside this window; tests check that no post was given up.
                "NEWSLETTER_RECONCILE_WINDOW": "PT15S",
                "NEWSLETTER_DISPATCH_BATCH_SIZE": str(self.batch_size),
            }
        )
        if self.server is not None:
            env["NEWSLETTER_SENDGRID_API_HOST"] = self.server.url
            env["NEWSLETTER_SENDGRID_API_KEY"] = API_KEY
            env["NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY"] = self.server.public_key
        env.update(self.extra_env)
        return env

    def settings(self) -> Settings:
        """The deployment's settings, as the processes read them from ``env``."""
        env = self.env()
        return Settings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            # The web app asks the deployment's workers to apply each stored webhook post.
            broker_url=self.broker_url,
            secret_key=SECRET,
            sendgrid_webhook_public_key=env.get("NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY", ""),
            base_url=f"http://127.0.0.1:{self._web_port}",
        )

    def start_services(self) -> None:
        """The SendGrid test server and the event webhook (in this process)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(self.database_url)
        migrate.upgrade(db.engine)
        db.dispose()
        if self.email_backend != "sendgrid":
            return
        self._web_port = free_port()
        key = generate_signing_key()
        self.server = SendGridTestServer(
            api_key=API_KEY,
            signing_key=key,
            webhook_url=f"http://127.0.0.1:{self._web_port}/webhooks/sendgrid",
            # ``processed`` alone proves acceptance; half the webhook traffic of adding
            # ``delivered`` keeps the web app's pool from timing out under a burst.
            auto_events=("processed",),
            event_retry_for=EVENT_RETRY_S,
        ).start()
        assert self.server.public_key == public_key_b64(key)
        self._start_web()

    def _start_web(self) -> None:
        from newsletter.app.factory import create_app
        from newsletter.delivery.views import WEBHOOK_PATH
        from newsletter.delivery.views import router as delivery_router

        app = create_app(self.settings())
        if not any(getattr(route, "path", "") == WEBHOOK_PATH for route in app.routes):
            app.include_router(delivery_router)  # until the app factory mounts it itself
        config = uvicorn.Config(app, host="127.0.0.1", port=self._web_port, log_level="warning")
        self._web = uvicorn.Server(config)
        self._web_thread = threading.Thread(target=self._web.run, daemon=True)
        self._web_thread.start()
        wait_until(lambda: self._web is not None and self._web.started, timeout=20, what="web")

    def start(self, role: str, name: str | None = None, *extra: str) -> subprocess.Popen[bytes]:
        """Start ``celery -A tasks <role>`` (worker or beat) as a child process."""
        name = name or role
        argv = [sys.executable, "-m", "celery", "-A", "tasks", role, "--loglevel=INFO"]
        if role == "worker":
            argv += ["--concurrency=2", "--without-mingle", "--without-gossip", f"-n={name}@%h"]
        else:
            argv += [f"--schedule={self.root / (name + '-schedule')}"]
        with (self.root / f"{name}.log").open("ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen(
                [*argv, *extra],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with self._lock:
            self.processes[name] = proc
        return proc

    def wait(self, condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
        """``wait_until``, failing at once (with the logs) if a child process died."""

        def check() -> Any:
            with self._lock:  # a kill from another thread is not a death to report
                dead = [n for n, proc in self.processes.items() if proc.poll() is not None]
            if dead:
                raise AssertionError(f"{', '.join(dead)} exited\n{self.logs()}")
            return condition()

        return wait_until(check, timeout=timeout, what=what)

    def kill(self, name: str) -> None:
        """SIGKILL a child and every process of its group (the worker's pool children too)."""
        with self._lock:
            proc = self.processes.pop(name)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop every child (warm shutdown, then kill), the web app and the server.

        Every child is told at once and they shut down side by side: a worker's warm
        shutdown takes seconds, and waiting for each in turn added them up. SIGTERM goes
        to each child's main process only, as systemd's ``KillMode=mixed`` sends it: sent
        to the whole group, it also killed a worker's pool processes under it, and the
        worker then hung in its warm shutdown until the SIGKILL 20 s later. Whatever is
        left of a group after its main process is gone is killed.
        """
        for proc in self.processes.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name, proc in list(self.processes.items()):
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            self.processes.pop(name)
        if self.server is not None:
            self.server.stop()  # posts the events it promised first
        if self._web is not None:
            self._web.should_exit = True
            if self._web_thread is not None:
                self._web_thread.join(timeout=20)

    def logs(self) -> str:
        """Every child's log, for a failing test's report."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}"
            for path in sorted(self.root.glob("*.log"))
        )

    # -- the data ------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Any]:
        """A session on the deployment's database."""
        db = Database(self.database_url)
        try:
            with db.session() as session:
                yield session
        finally:
            db.dispose()

    def seed(self, readers: int, *, slug: str = "morning") -> None:
        """A publication (created a minute ago) with briefings and ``readers`` confirmed readers."""
        with self.session() as session:
            pub = seed.publication(session, slug=slug, created=utcnow() - timedelta(minutes=1))
            seed.readers(session, pub, readers)

    def send_now(self, slug: str = "morning") -> int:
        """Make today's edition due now, as ``digest send-now`` does."""
        with self.session() as session:
            return editions.send_now(session, slug).id

    def digest_state(self) -> DigestState | None:
        """The state of the only digest, if assembled."""
        with self.session() as session:
            return session.scalar(select(Digest.state))

    def scheduled_readers(self) -> int:
        """How many deliveries the provider holds for a later send_at (state ``scheduled``)."""
        with self.session() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(Delivery.state == DeliveryState.SCHEDULED)
                )
                or 0
            )

    def accepted_batches(self) -> int:
        """How many batches the ledger records as accepted."""
        with self.session() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(SendBatch)
                    .where(SendBatch.state == BatchState.ACCEPTED)
                )
                or 0
            )

    def assert_events_delivered(self, timeout: float = 60) -> None:
        """Every event post reached the webhook, none was given up, and workers applied them all."""
        assert self.server is not None
        settled = self.server.wait_for_events(timeout)
        stats = self.server.event_stats
        assert settled, f"event posts still pending after {timeout:g} s: {stats}"
        assert stats.given_up == 0, f"the webhook never took {stats.given_up} event post(s)"
        self.wait(self.events_applied, timeout=timeout, what="the workers to apply every post")

    def events_applied(self) -> bool:
        """Whether no stored webhook post waits to be applied."""
        from newsletter.delivery.inbox import pending_posts

        with self.session() as session:
            return pending_posts(session) == 0

    def copies(self) -> Counter[str]:
        """How many copies each address got: mail the test server actually released."""
        assert self.server is not None
        return self.server.delivered_recipients()


@contextmanager
def redis_stack(root: Path, database_url: str, **options: Any) -> Iterator[Stack]:
    """A deployment (``Stack`` with ``options``) on ``database_url`` and the tests' Redis
    database as its broker, emptied first; its services started. After: every process
    stopped, the broker emptied again."""
    broker_url = test_services.redis_url()
    queue = redis.Redis.from_url(broker_url)
    queue.flushdb()
    deployment = Stack(root, database_url, broker_url=broker_url, **options)
    try:
        deployment.start_services()
        yield deployment
    finally:
        deployment.stop()
        queue.flushdb()
        queue.close()
