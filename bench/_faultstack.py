"""A deployment for the fault harness: real worker, beat and web processes around a test server.

``Deployment`` runs what an operator runs, configured only through ``NEWSLETTER_*``
variables: ``celery -A tasks worker`` processes (``bench._stack.start_worker``), one
``celery -A tasks beat`` and ``newsletter web`` (the signed Event Webhook), each in a
session of its own so that a SIGKILL of its group takes its pool children too. The
SendGrid test server runs in the harness's own process, so the harness can move its
clock, inject faults and count what it actually released. With ``server=None`` the
deployment uses the outbox backend instead (files under ``<data dir>/outbox``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, literal, select, text
from sqlalchemy.orm import Session

from bench import _stack
from newsletter import migrate
from newsletter.briefings.models import Briefing, BriefingRevision, BriefingState
from newsletter.content.briefing import BriefingContent
from newsletter.db import Database, UTCDateTime, utcnow
from newsletter.delivery.models import Delivery, GroupState, ProviderGroup, SendBatch
from newsletter.digests.models import Digest, DigestState
from newsletter.publications.services import create_publication
from newsletter.publications.spec import PublicationSpec
from newsletter.sendgrid_testserver.server import SendGridTestServer
from subscribers.models import Subscriber, Subscription, SubscriptionState
from subscribers.services import ensure_default_list

SLUG = "morning"
# Short enough that crash recovery and retries show within a run, as a small
# deployment could choose; the provider's own rules (ten-minute cancel cutoff,
# send_at) and the schedule lead keep their production values.
TIMING = {
    "NEWSLETTER_TICK_INTERVAL": "PT2S",
    "NEWSLETTER_STALL_AFTER": "PT20S",
    "NEWSLETTER_DISPATCH_LEASE": "PT20S",
    "NEWSLETTER_RECONCILE_WINDOW": "PT2M",
    "NEWSLETTER_SENDGRID_TIMEOUT": "2",
    "NEWSLETTER_SCHEDULE_LEAD": "PT15M",
}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    """One deployment under test; see the module docstring."""

    root: Path
    database_url: str
    broker_url: str  # "" means the filesystem broker under the data directory
    server: SendGridTestServer | None = None
    batch_size: int = 1000
    extra_env: dict[str, str] = field(default_factory=dict)
    web_port: int = field(default_factory=free_port)
    workers: dict[str, _stack.Worker] = field(default_factory=dict)
    others: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: int = 0

    @property
    def data_dir(self) -> Path:
        """The deployment's data directory."""
        return self.root / "var"

    @property
    def webhook_url(self) -> str:
        """Where the test server posts its events."""
        return f"http://127.0.0.1:{self.web_port}/webhooks/sendgrid"

    def env(self) -> dict[str, str]:
        """The environment of every process of the deployment."""
        extra = {**TIMING, **self.extra_env}
        if self.server is not None:
            extra.update(
                {
                    "NEWSLETTER_EMAIL_BACKEND": "sendgrid",
                    "NEWSLETTER_SENDGRID_API_HOST": self.server.url,
                    "NEWSLETTER_SENDGRID_API_KEY": self.server.api_key,
                    "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY": self.server.public_key,
                }
            )
        else:
            extra["NEWSLETTER_EMAIL_BACKEND"] = "outbox"
        return _stack.stack_env(
            data_dir=self.data_dir,
            database_url=self.database_url,
            broker_url=self.broker_url,
            batch_size=self.batch_size,
            extra=extra,
        )

    # -- processes -------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the schema (as ``newsletter worker`` does before it starts)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        database = Database(self.database_url)
        try:
            migrate.upgrade(database.engine)
        finally:
            database.dispose()

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` in a session of its own, logging to ``<root>/<name>.log``."""
        with (self.root / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                argv, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.others[name] = process
        return process

    def start_web(self) -> None:
        """``newsletter web`` on the webhook port, and wait until it answers."""
        argv = [sys.executable, "-m", "newsletter", "web", "--host", "127.0.0.1"]
        self._spawn("web", [*argv, "--port", str(self.web_port)])

        def listening() -> bool:
            self.check_alive()
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.web_port)) == 0

        _stack.wait_for(listening, timeout=120, what="newsletter web to listen", every=0.2)

    def start_beat(self) -> None:
        """``celery -A tasks beat`` with its schedule file in the run's folder."""
        argv = [sys.executable, "-m", "celery", "-A", "tasks", "beat", "--loglevel=INFO"]
        self._spawn("beat", [*argv, f"--schedule={self.root / 'beat-schedule'}"])

    def start_worker(self) -> _stack.Worker:
        """One more ``celery -A tasks worker`` (two pool processes), named worker<N>."""
        self.started += 1
        name = f"worker{self.started}"
        worker = _stack.start_worker(self.root, self.env(), name, concurrency=2)
        self.workers[name] = worker
        return worker

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker's whole process group (its pool processes die with it)."""
        worker = self.workers.pop(name)
        with contextlib.suppress(ProcessLookupError):  # gone already
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=60)

    def check_alive(self) -> bool:
        """Raise naming any process of the deployment that exited by itself; else False."""
        procs = {**self.others, **{n: w.process for n, w in self.workers.items()}}
        dead = [name for name, proc in procs.items() if proc.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited; logs in {self.root}\n{self.tail()}")
        return False

    def stop(self) -> None:
        """Warm shutdown of every process (SIGTERM to its group, then SIGKILL)."""
        for worker in self.workers.values():
            worker.stop(timeout=30)
        self.workers.clear()
        for process in self.others.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.others.clear()

    def tail(self, chars: int = 3000) -> str:
        """The end of every process log, for a failure's report."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}"
            for path in sorted(self.root.glob("*.log"))
        )

    # -- data ------------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the deployment's database."""
        database = Database(self.database_url)
        try:
            with database.session() as session:
                yield session
        finally:
            database.dispose()

    def seed(self, readers: int, *, now: datetime) -> None:
        """A publication created a minute ago, two approved briefings and ``readers`` readers."""
        with self.session() as session:
            seed_publication(session, readers, now=now)

    def digest(self) -> tuple[int, DigestState] | None:
        """The only digest's id and state, once assembled."""
        with self.session() as session:
            row = session.execute(select(Digest.id, Digest.state)).first()
        return (row[0], row[1]) if row else None

    def final(self) -> bool:
        """Whether the edition reached a final state (raises if a process died)."""
        self.check_alive()
        found = self.digest()
        return found is not None and found[1] in _stack.FINAL

    def ledger(self) -> dict[str, dict[str, int]]:
        """Counts of batches, provider groups and deliveries by state."""
        columns = {
            "batches": SendBatch.state,
            "groups": ProviderGroup.state,
            "deliveries": Delivery.state,
        }
        with self.session() as session:
            return {
                label: {
                    str(state.value): int(count)
                    for state, count in session.execute(
                        select(column, func.count()).group_by(column)
                    ).all()
                }
                for label, column in columns.items()
            }

    def reader_states(self) -> dict[str, str]:
        """Each reader's address and the state of their delivery."""
        with self.session() as session:
            rows = session.execute(
                select(Subscriber.email, Delivery.state).join(
                    Delivery, Delivery.subscriber_id == Subscriber.id
                )
            ).all()
        return {email: state.value for email, state in rows}

    def errors(self, limit: int = 5) -> list[str]:
        """The most common batch and group errors, for a run's diagnosis."""
        with self.session() as session:
            rows: list[Any] = [
                *session.execute(
                    select(SendBatch.error, func.count())
                    .where(SendBatch.error.is_not(None))
                    .group_by(SendBatch.error)
                ).all(),
                *session.execute(
                    select(ProviderGroup.error, func.count())
                    .where(ProviderGroup.error.is_not(None))
                    .group_by(ProviderGroup.error)
                ).all(),
            ]
        rows.sort(key=lambda row: -int(row[1]))
        return [f"{count} × {str(error)[:200]}" for error, count in rows[:limit]]

    def cancelled_groups(self) -> int:
        """Provider batch ids confirmed cancelled."""
        with self.session() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(ProviderGroup)
                    .where(ProviderGroup.state == GroupState.CANCELLED)
                )
                or 0
            )


class FaultThread:
    """A scenario's fault, acted out in a thread while the edition goes out."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(action,), daemon=True)
        self._thread.start()

    def _run(self, action: Callable[[], None]) -> None:
        try:
            action()
        except BaseException as exc:  # reported by the run, not lost in the thread
            self.error = exc
        finally:
            self.done.set()

    def check(self) -> bool:
        """Whether the fault is over (raise what went wrong in it)."""
        if self.error is not None:
            raise RuntimeError(f"the fault action failed: {self.error!r}") from self.error
        return self.done.is_set()


def _content(slug: str) -> dict[str, Any]:
    """A valid briefing revision's content."""
    return BriefingContent.model_validate(
        {
            "title": slug.replace("-", " ").capitalize(),
            "slug": slug,
            "lede": [f"What happened in {slug}."],
            "behind_the_headline": [{"heading": "Background", "paragraphs": [f"On {slug}."]}],
            "topics": [],
            "priority": 0,
        }
    ).model_dump(mode="json")


def seed_publication(session: Session, readers: int, *, now: datetime) -> None:
    """The publication ``morning`` (UTC, daily at a time far from now) with its readers."""
    spec = PublicationSpec.model_validate(
        {
            "slug": SLUG,
            "name": "The Morning Fault",
            "from_name": "The Morning Fault",
            "from_email": "morning@example.org",
            "reply_to": "editors@example.org",
            "base_url": "https://bench.example.org",
            "postal_address": "1 Bench Road",
            "timezone": "UTC",
            # Half a day away, so no regular edition is due during a run.
            "send_time": (now + timedelta(hours=12)).strftime("%H:%M"),
            "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        }
    )
    publication = create_publication(session, spec)
    publication.created_at = now - timedelta(minutes=1)
    for number in (1, 2):
        content = _content(f"story-{number}")
        briefing = Briefing(slug=f"story-{number}", state=BriefingState.APPROVED)
        briefing.revisions.append(
            BriefingRevision(
                number=1,
                title=content["title"],
                content=content,
                content_hash=BriefingContent.model_validate(content).content_hash(),
            )
        )
        briefing.latest_revision = briefing.approved_revision = 1
        briefing.approved_at = now - timedelta(days=1, minutes=number)
        briefing.approved_by = "Fault Harness"
        session.add(briefing)
    list_id = ensure_default_list(session, publication).id
    session.flush()
    created = now - timedelta(days=2)
    for start in range(0, readers, 5000):
        session.execute(
            insert(Subscriber),
            [
                {"email": address(n), "name": "", "created_at": created}
                for n in range(start, min(readers, start + 5000))
            ],
        )
    columns = ["subscriber_id", "list_id", "state", "topics", "created_at", "updated_at"]
    rows = select(
        Subscriber.id,
        literal(list_id),
        literal(SubscriptionState.CONFIRMED, Subscription.state.type),
        literal([], Subscription.topics.type),
        literal(created, UTCDateTime()),
        literal(created, UTCDateTime()),
    )
    session.execute(insert(Subscription).from_select(columns, rows))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE"))


def address(n: int) -> str:
    """Reader number ``n``'s address."""
    return f"reader{n}@example.org"


__all__ = [
    "SLUG",
    "Deployment",
    "FaultThread",
    "address",
    "free_port",
    "seed_publication",
    "utcnow",
]
