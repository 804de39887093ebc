"""What load balancers and Prometheus look at: ``/healthz``, ``/readyz`` and ``/metrics``.

* ``/healthz``: the process answers (no database, no broker): restart it if not.
* ``/readyz``: the database answers a query and the broker accepts a connection;
  503 naming what failed otherwise: take the process out of rotation meanwhile.
* ``/metrics``: Prometheus text. The counters of ``newsletter.metrics`` (added up over
  every process of the machine in multiprocess mode) and gauges read from the
  database at scrape time: batches and editions by state, the age of the oldest
  batch waiting to be sent and of the oldest webhook post waiting to be applied.
  Reading them at scrape time keeps them right whichever process changed them.

None of them is in the API docs; none needs a session or writes anything.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session
from starlette.concurrency import run_in_threadpool

from newsletter import metrics as _counters  # noqa: F401 - registers the counters
from newsletter.db import Database, utcnow
from newsletter.delivery.inbox import WebhookPost
from newsletter.delivery.models import BatchState, SendBatch
from newsletter.digests.models import Digest, DigestState
from newsletter.schedules.models import EditionState, ScheduledEdition
from newsletter.settings import METRICS_ENV
from newsletter.web.deps import runtime_of

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
BROKER_TIMEOUT_S = 3.0


@router.get("/healthz")
def healthz() -> PlainTextResponse:
    """The process is up."""
    return PlainTextResponse("ok\n", headers={"cache-control": "no-store"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Database and broker reachable: 200, else 503 with each one's state."""
    runtime = runtime_of(request)
    checks = {
        "database": await run_in_threadpool(_database_problem, runtime.database),
        "broker": await run_in_threadpool(request.app.state.broker_problem, runtime),
    }
    ready = not any(checks.values())
    body = {"ready": ready, **{name: problem or "ok" for name, problem in checks.items()}}
    return JSONResponse(
        body, status_code=200 if ready else 503, headers={"cache-control": "no-store"}
    )


def _database_problem(database: Database) -> str:
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready": say which, keep serving
        log.warning("readyz: database unreachable: %s", exc)
        return f"unreachable ({type(exc).__name__})"
    return ""


def broker_problem(runtime: Runtime) -> str:
    """'' if the task broker accepts a connection, else why not."""
    from newsletter.app.apply_requests import celery_for

    try:
        with celery_for(runtime).connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
    except Exception as exc:  # kombu raises its own and the transport's errors
        log.warning("readyz: broker unreachable: %s", exc)
        return f"unreachable ({type(exc).__name__})"
    return ""


@router.get("/metrics")
async def prometheus(request: Request) -> Response:
    """Prometheus exposition of the counters and the database's gauges."""
    database = runtime_of(request).database
    body = await run_in_threadpool(exposition, database)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"cache-control": "no-store"})


def exposition(database: Database) -> bytes:
    """The metrics text: counters (every process's, in multiprocess mode) and gauges."""
    registry = CollectorRegistry()
    if os.environ.get(METRICS_ENV):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        counters = registry
    else:
        counters = REGISTRY
    gauges = CollectorRegistry()
    gauges.register(LedgerCollector(database))
    return generate_latest(counters) + generate_latest(gauges)


class LedgerCollector(Collector):
    """Gauges read from the database each time Prometheus scrapes."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterable[Metric]:
        """Batches, digests and scheduled editions by state; the two waiting ages."""
        now = utcnow()
        with self.database.session() as session:
            batches = _by_state(session, SendBatch.state)
            digests = _by_state(session, Digest.state)
            editions = _by_state(session, ScheduledEdition.state)
            waiting = session.scalar(
                select(func.min(func.coalesce(SendBatch.not_before, SendBatch.created_at))).where(
                    SendBatch.state == BatchState.PLANNED
                )
            )
            unapplied = session.scalar(
                select(func.min(WebhookPost.received_at)).where(WebhookPost.applied_at.is_(None))
            )
        yield _family("newsletter_batches", "Provider batches by state.", BatchState, batches)
        yield _family("newsletter_digests", "Editions (digests) by state.", DigestState, digests)
        yield _family(
            "newsletter_scheduled_editions",
            "Scheduled editions by state (before their digest takes over).",
            EditionState,
            editions,
        )
        yield _age(
            "newsletter_queue_age_seconds",
            "How long the oldest batch ready to send has waited (0: none waiting).",
            waiting,
            now,
        )
        yield _age(
            "newsletter_event_lag_seconds",
            "How long the oldest stored webhook post has waited to be applied (0: none).",
            unapplied,
            now,
        )


def _by_state(session: Session, column: InstrumentedAttribute[Any]) -> dict[object, int]:
    rows = session.execute(select(column, func.count()).group_by(column))
    return {state: int(count) for state, count in rows}


def _family(
    name: str, documentation: str, states: Iterable[object], counts: dict[object, int]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["state"])
    for state in states:
        family.add_metric([str(state)], counts.get(state, 0))
    return family


def _age(name: str, documentation: str, since: datetime | None, now: datetime) -> GaugeMetricFamily:
    seconds = max(0.0, (now - since).total_seconds()) if since is not None else 0.0
    return GaugeMetricFamily(name, documentation, value=seconds)
