"""The Event Webhook's applier task: apply the stored posts' events in sets, in arrival order.

The web process sends ``tasks.events.apply_events`` after each stored post, and beat
sends it every few seconds, so a lost message costs only that delay. Many such
messages at once are cheap: one task applies everything pending, the others find
the inbox held (PostgreSQL) or empty and return.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from sqlalchemy.exc import OperationalError

from newsletter import metrics
from newsletter.delivery.events import apply_pending
from tasks.runtimes import runtime_of

APPLY_TASK = "tasks.events.apply_events"
# A task stops after this much applying and sends itself again, so one long backlog
# never holds a worker past its time limit and other tasks get their turn.
TIME_BUDGET_S = 20.0


_task: Callable[[Callable[..., Any]], Any] = shared_task(
    name=APPLY_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=6,
)


@_task
def apply_events(self: Task) -> int:
    """Apply pending webhook posts; returns how many events were applied."""
    outcome = apply_pending(runtime_of(self.app).database, time_budget=TIME_BUDGET_S)
    metrics.EVENTS_APPLIED.inc(outcome.events.applied)
    if outcome.more:
        self.app.send_task(APPLY_TASK)
    return outcome.events.applied
