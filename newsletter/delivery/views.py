"""``POST /webhooks/sendgrid``: SendGrid's signed Event Webhook.

Verify the signature over the raw body (403 if forged, unsigned or replayed),
validate the JSON (400 if malformed: nothing is stored), then store the post as
received, one INSERT in a short transaction, and answer 200 at once. The events
are applied later, in sets and in arrival order, by the ``tasks.events.apply_events``
task (``newsletter.delivery.events.apply_pending``): once the post is committed
this view has a worker asked for it, from one thread per process that folds the
requests of a burst into one message, and a periodic beat entry catches anything
a lost message left behind. How a worker is asked is the app's to say: the factory
puts the asking function on ``app.state.request_apply`` (see ``ApplyRequest``).
SendGrid retries any non-2xx answer, and a retried post is harmless (events are
deduplicated on ``sg_event_id`` when applied).

At most ``MAX_CONCURRENT_STORES`` posts store at once per process (one on SQLite,
whose single writer would otherwise make threads poll for its lock), so a burst
queues here in order. A post that cannot start within ``QUEUE_WAIT`` seconds, or
whose database stays locked or unreachable, is answered 503: SendGrid brings it back.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc
from starlette.concurrency import run_in_threadpool

from newsletter import metrics
from newsletter.db import Database
from newsletter.delivery.inbox import store_post
from newsletter.delivery.webhook import event_count, load_events, verify_event_request
from newsletter.errors import ConfigError, NewsletterError
from newsletter.providers.webhook_protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER
from newsletter.runtime import Runtime
from newsletter.web.deps import runtime_of

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/sendgrid"
MAX_CONCURRENT_STORES = 4  # below the pool's default 5, which other requests share
QUEUE_WAIT = 10.0  # seconds a post may wait for its turn before it is told to come back
LOCK_WAIT_MS = 5000  # longest wait for a row or database lock inside the transaction
STATEMENT_MS = 10000  # longest single statement (PostgreSQL)
RETRY_AFTER = "5"

# The database errors that mean "not now" rather than "never": locked, unreachable, pool empty.
UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)

router = APIRouter()
_gates: weakref.WeakKeyDictionary[Database, threading.BoundedSemaphore] = (
    weakref.WeakKeyDictionary()
)
_requesters: weakref.WeakKeyDictionary[Database, Requester] = weakref.WeakKeyDictionary()
_lz4: weakref.WeakKeyDictionary[Database, bool] = weakref.WeakKeyDictionary()
_gates_lock = threading.Lock()

ApplyRequest = Callable[[Runtime], None]
"""Asks a worker to apply the pending posts of the runtime's database; a broker that is
down is only logged (the periodic beat entry covers it)."""


class Busy(NewsletterError):
    """Every slot stayed taken for ``QUEUE_WAIT`` seconds."""


def gate_for(database: Database) -> threading.BoundedSemaphore:
    """The semaphore bounding concurrent webhook transactions on ``database``."""
    with _gates_lock:
        gate = _gates.get(database)
        if gate is None:
            slots = 1 if database.engine.dialect.name == "sqlite" else MAX_CONCURRENT_STORES
            gate = _gates[database] = threading.BoundedSemaphore(slots)
        return gate


@contextmanager
def _storing(database: Database) -> Iterator[Connection]:
    """A transaction that fails fast on a locked database, committed on success.

    Instead of the engine's 30-second patience, waits for locks at most
    ``LOCK_WAIT_MS``. PostgreSQL compresses the large body with lz4 where the
    server has it (several times faster than its default). SQLite does not
    checkpoint its write-ahead log in this commit (a checkpoint copies megabytes and
    syncs the disk: a tenth of a second in some post's answer); the requester
    thread checkpoints after posts instead (``checkpoint``).
    """
    with database.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Local settings end with the transaction, so the pooled connection is left as it
            # was; one statement, one round trip.
            compression = "lz4" if _has_lz4(database, connection) else "pglz"
            connection.exec_driver_sql(
                "SELECT set_config('lock_timeout', %s, true),"
                " set_config('statement_timeout', %s, true),"
                " set_config('default_toast_compression', %s, true)",
                (str(LOCK_WAIT_MS), str(STATEMENT_MS), compression),
            )
            yield connection
            connection.commit()
            return
        # SQLite's settings belong to the connection: change them, then put them back.
        busy = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {LOCK_WAIT_MS}")
        connection.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
        try:
            yield connection
            connection.commit()
        finally:
            connection.rollback()
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(busy or 0)}")
            connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {int(pages or 0)}")
            connection.commit()


def _has_lz4(database: Database, connection: Connection) -> bool:
    """Whether the PostgreSQL server can compress with lz4 (asked once per database)."""
    found = _lz4.get(database)
    if found is None:
        found = _lz4[database] = bool(
            connection.exec_driver_sql(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                "WHERE name = 'default_toast_compression'"
            ).scalar()
        )
    return found


def checkpoint(database: Database) -> None:
    """Copy SQLite's write-ahead log into the database, without waiting for anyone."""
    if database.engine.dialect.name != "sqlite":
        return
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def _receive(runtime: Runtime, body: bytes, signature: str, timestamp: str) -> tuple[int, int]:
    """Verify, validate and store one post; (its id, how many events it holds)."""
    verify_event_request(
        body, signature, timestamp, runtime.settings.sendgrid_webhook_public_key, now=time.time()
    )
    # Refuses a malformed body before anything is stored; translating the events is
    # left to the applier, which reads the stored body with the same checks.
    events = event_count(load_events(body))
    gate = gate_for(runtime.database)
    if not gate.acquire(timeout=QUEUE_WAIT):
        raise Busy(f"no free slot within {QUEUE_WAIT:g} s")
    try:
        with _storing(runtime.database) as connection:
            return store_post(connection, body.decode("utf-8"), events), events
    finally:
        gate.release()


class Requester:
    """Sends apply requests from one thread, one at a time, folding those made meanwhile.

    ``ask`` never blocks a request. Every ``ask`` is followed by a message sent
    after it (the one being sent may have been built before the post it follows
    was committed, so a request made during a send sends once more afterwards): a
    burst of posts costs a message every ``INTERVAL_S`` at most, not one each, and
    no request thread pays for the broker. The thread ends after ``IDLE_S`` without
    requests.
    """

    IDLE_S = 30.0
    INTERVAL_S = 0.2  # the shortest time between two messages

    def __init__(self, runtime: Runtime, request_apply: ApplyRequest) -> None:
        """A requester for ``runtime``, asking through ``request_apply``; its thread starts
        on the first ``ask``."""
        # Weakly held: the runtime belongs to its app, and keys this requester's entry.
        self.runtime = weakref.ref(runtime)
        self.request_apply = request_apply
        self.wanted = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.sent = 0

    def ask(self) -> None:
        """Have the pending posts applied soon."""
        with self.lock:
            self.wanted.set()
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="webhook-apply-requests", daemon=True
                )
                self.thread.start()

    def _run(self) -> None:
        """Send one request per wake-up until none came for ``IDLE_S``."""
        try:
            while self.wanted.wait(self.IDLE_S) or self._busy():
                self.wanted.clear()
                runtime = self.runtime()
                if runtime is None:
                    return  # the app is gone
                try:
                    self.request_apply(runtime)
                    checkpoint(runtime.database)
                except Exception:  # the thread must outlive any failure: beat covers it
                    log.exception("sending the webhook apply request failed")
                self.sent += 1
                del runtime
                # A burst's further posts wait for the next message together: the applier
                # takes everything pending anyway, and a message costs the web process.
                time.sleep(self.INTERVAL_S)
        finally:
            with self.lock:  # a request left set starts the next thread on ``ask``
                if self.thread is threading.current_thread():
                    self.thread = None

    def _busy(self) -> bool:
        """Whether a request came after all, just as the wait ran out."""
        with self.lock:
            if self.wanted.is_set():
                return True
            self.thread = None  # from here an ``ask`` starts a new thread
            return False


def requester_for(runtime: Runtime, request_apply: ApplyRequest) -> Requester:
    """The process's requester for this runtime's database."""
    with _gates_lock:
        requester = _requesters.get(runtime.database)
        if requester is None:
            requester = _requesters[runtime.database] = Requester(runtime, request_apply)
        return requester


def _unavailable(reason: str) -> JSONResponse:
    return JSONResponse(
        {"error": f"events not stored, try again later: {reason}"},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER},
    )


@router.post(WEBHOOK_PATH)
async def sendgrid_events(request: Request) -> JSONResponse:
    """Receive a batch of SendGrid events: verify, validate, store; applied later."""
    runtime = runtime_of(request)
    body = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    try:
        post_id, events = await run_in_threadpool(_receive, runtime, body, signature, timestamp)
    except ConfigError as exc:
        # Without a key nothing can be verified; 503 makes SendGrid keep the events.
        metrics.WEBHOOK_POSTS.labels("unavailable").inc()
        return JSONResponse({"error": str(exc)}, status_code=503)
    except Busy as exc:
        log.warning("sendgrid webhook busy: %s", exc)
        metrics.WEBHOOK_POSTS.labels("unavailable").inc()
        return _unavailable("too many posts at once")
    except UNAVAILABLE as exc:
        log.warning("sendgrid webhook could not reach the database: %s", exc)
        metrics.WEBHOOK_POSTS.labels("unavailable").inc()
        return _unavailable("the database is unavailable")
    metrics.WEBHOOK_POSTS.labels("stored").inc()
    metrics.WEBHOOK_EVENTS.inc(events)
    requester_for(runtime, request.app.state.request_apply).ask()
    return JSONResponse({"received": events, "post": post_id})
