"""``POST /webhooks/sendgrid``: SendGrid's signed Event Webhook.

Verify the signature over the raw body (403 if forged, unsigned or replayed),
translate the JSON into our events (400 if malformed), then apply them in one
transaction. Nothing is stored unless every step passes. SendGrid retries any
non-2xx answer, and duplicates are harmless (deduplicated on ``sg_event_id``), so
a failure while applying answers 5xx and lets SendGrid try again.

SendGrid posts in bursts. Each post holds a pooled connection for one short
transaction, and at most ``MAX_CONCURRENT_STORES`` posts do so at once, fewer than the
pool holds, so a burst queues here instead of starving the rest of the app or
timing out in the pool. A post that cannot start within ``QUEUE_WAIT`` seconds, or
whose database is locked or unreachable, is answered 503 at once: SendGrid will
bring it back, which costs less than a sender waiting 30 seconds for an answer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from newsletter.db import Database
from newsletter.delivery.events import EventsResult, apply_events
from newsletter.delivery.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ProviderEvent,
    parse_events,
    verify_event_request,
)
from newsletter.errors import ConfigError
from newsletter.runtime import Runtime
from newsletter.web.app import runtime_of

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
_gates_lock = threading.Lock()


class Busy(Exception):
    """Every slot stayed taken for ``QUEUE_WAIT`` seconds."""


def gate_for(database: Database) -> threading.BoundedSemaphore:
    """The semaphore bounding concurrent webhook transactions on ``database``."""
    with _gates_lock:
        gate = _gates.get(database)
        if gate is None:
            gate = _gates[database] = threading.BoundedSemaphore(MAX_CONCURRENT_STORES)
        return gate


def _raw_by_id(body: bytes) -> dict[str, dict[str, Any]]:
    """Each event of an already validated body, keyed by its ``sg_event_id``."""
    return {str(item["sg_event_id"]): item for item in json.loads(body)}


@contextmanager
def _short_waits(session: Session) -> Iterator[None]:
    """Fail fast on a locked database instead of the engine's 30-second patience."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # SET LOCAL ends with the transaction, so the pooled connection is left as it was.
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {LOCK_WAIT_MS}")
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {STATEMENT_MS}")
        yield
        return
    # SQLite's busy timeout belongs to the connection: lower it, then put it back.
    before = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    connection.exec_driver_sql(f"PRAGMA busy_timeout = {LOCK_WAIT_MS}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(before or 0)}")


def _store(runtime: Runtime, events: list[ProviderEvent], body: bytes) -> EventsResult:
    gate = gate_for(runtime.database)
    if not gate.acquire(timeout=QUEUE_WAIT):
        raise Busy(f"no free slot within {QUEUE_WAIT:g} s")
    try:
        with runtime.database.session() as session, _short_waits(session):
            return apply_events(session, events, _raw_by_id(body))
    finally:
        gate.release()


def _unavailable(reason: str) -> JSONResponse:
    return JSONResponse(
        {"error": f"events not stored, try again later: {reason}"},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER},
    )


@router.post(WEBHOOK_PATH)
async def sendgrid_events(request: Request) -> JSONResponse:
    """Receive a batch of SendGrid events: verify, translate, apply once."""
    runtime = runtime_of(request)
    body = await request.body()
    try:
        verify_event_request(
            body,
            request.headers.get(SIGNATURE_HEADER, ""),
            request.headers.get(TIMESTAMP_HEADER, ""),
            runtime.settings.sendgrid_webhook_public_key,
            now=time.time(),
        )
    except ConfigError as exc:
        # Without a key nothing can be verified; 503 makes SendGrid keep the events.
        return JSONResponse({"error": str(exc)}, status_code=503)
    events = parse_events(body)
    try:
        result = await run_in_threadpool(_store, runtime, events, body)
    except Busy as exc:
        log.warning("sendgrid webhook busy: %s", exc)
        return _unavailable("too many posts at once")
    except UNAVAILABLE as exc:
        log.warning("sendgrid webhook could not reach the database: %s", exc)
        return _unavailable("the database is unavailable")
    return JSONResponse(
        {
            "received": len(events),
            "applied": result.applied,
            "duplicates": result.duplicates,
            "unmatched": result.unmatched,
        }
    )
