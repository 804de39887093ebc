"""The pipeline's Celery tasks: thin wrappers that take ids, call one step, enqueue the next.

    tick ─▶ assemble(edition) ─▶ render(digest) ─▶ publish(digest) ─▶ plan(digest)
         ─▶ group(send_batch(batch) ...) ─▶ finalise(digest) once no batch is open
    tick ─▶ publish_changes() when a public change waits for its export or hub ping

Publishing records its public change with the state change; the publish task then
flushes it (static export, WebSub ping). One that failed stays pending in the
database with its next attempt time, and the tick sends ``publish_changes`` once
one is due, so retries survive restarts (``newsletter.publishing.changes``).

Every task commits its transaction before it enqueues the next one, so a worker
never picks up a message about a row it cannot see yet. Every step is idempotent
(``newsletter.pipeline``), messages carry only ids, and the tick re-enqueues
whatever stalled, so a lost or duplicated message changes nothing but timing.
Countdowns stay short (``MAX_COUNTDOWN_S``): Redis re-delivers long ETAs.

Work proportional to work: a batch gets a message when it is due and none is out
for it (``tick.due_batches`` marks ``enqueued_for``); a batch that is not due, or
is held by the provider's open circuit breaker, never re-enqueues itself. After a
failed attempt it is enqueued once for its retry time when that is near and the
breaker closed; otherwise the tick enqueues it when due (one probe while open).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from celery import Task, group, shared_task
from celery.utils.log import get_task_logger
from sqlalchemy.exc import OperationalError

from newsletter.db import utcnow
from newsletter.delivery.catchup import plan_late_readers
from newsletter.delivery.services import reconcile
from newsletter.errors import RetryableError
from newsletter.pipeline import batches, steps
from newsletter.pipeline.dispatch import dispatch_options
from newsletter.pipeline.tick import due_batches, expire_due, mark_enqueued, stalled
from newsletter.publishing import changes
from newsletter.publishing.models import ChangeState
from newsletter.runtime import Runtime
from newsletter.schedules.claim import claim_due
from subscribers.links import Links
from subscribers.tokens import tokens_for
from subscribers.welcome import EmailWelcomer, send_welcomes, welcome_due
from tasks.runtimes import runtime_of

MAX_COUNTDOWN_S = 120.0
WELCOMES_PER_TICK = 200  # owed welcomes (their sender died) sent by one tick
PREFIX = "tasks.pipeline."
log = get_task_logger(__name__)

# Worth another try: a provider's or the database's passing trouble (a dropped
# connection, a lock timeout, a serialisation failure).
RETRYABLE = (RetryableError, OperationalError)
POLICY: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": RETRYABLE,
    "retry_backoff": 2,
    "retry_backoff_max": int(MAX_COUNTDOWN_S),
    "retry_jitter": True,
    "max_retries": 6,
}

F = TypeVar("F", bound=Callable[..., Any])


def pipeline_task(step: str) -> Callable[[F], F]:
    """Declare one step as a Celery task named ``tasks.pipeline.<step>`` with the policy above."""
    decorator: Callable[[F], F] = shared_task(name=PREFIX + step, **POLICY)
    return decorator


def enqueue(task: Task, step: str, item_id: int, *, countdown: float | None = None) -> None:
    """Send one step's message (after the caller's commit), by name, with a short countdown."""
    options: dict[str, Any] = {}
    if countdown:
        options["countdown"] = min(MAX_COUNTDOWN_S, max(0.0, countdown))
    if step == "send_batch":
        options.update(_batch_limits(task))
    task.app.send_task(PREFIX + step, args=(item_id,), **options)


def _batch_limits(task: Task) -> dict[str, float]:
    """A batch must finish well inside its lease, or reconciliation treats it as lost."""
    lease = runtime_of(task.app).settings.dispatch_lease.total_seconds()
    return {"soft_time_limit": lease * 0.8, "time_limit": lease * 0.9}


def _due(
    task: Task, digest_id: int | None = None, *, stall_after: timedelta | None = None
) -> list[int]:
    """Pick (and mark, committed) the batches that need a message now."""
    rt = runtime_of(task.app)
    overdue = rt.settings.stall_after if stall_after is None else stall_after
    with rt.database.session() as session:
        return due_batches(session, utcnow(), overdue, digest_id=digest_id)


def _send_batches(task: Task, batch_ids: list[int]) -> None:
    if batch_ids:
        limits = _batch_limits(task)
        group(
            task.app.signature(PREFIX + "send_batch", args=(batch_id,), **limits)
            for batch_id in batch_ids
        ).apply_async()


@pipeline_task("tick")
def tick(self: Task) -> dict[str, int]:
    """Start due editions, mark late ones missed, reconcile the ledger, expire briefings whose
    ``Expires:`` time passed, nudge stalled steps."""
    rt = runtime_of(self.app)
    settings = rt.settings
    now = utcnow()
    with rt.database.session() as session:
        claimed = claim_due(session, now, window=settings.freshness_window, lead=rt.schedule_lead)
    for edition_id in claimed.started:
        enqueue(self, "assemble", edition_id)
    reconcile(rt.database, window=settings.reconcile_window, clock=lambda: now, sender=rt.sender)
    with rt.database.session() as session:  # committed first: publish_changes below takes them
        expired = expire_due(session, now)
    with rt.database.session() as session:  # committed first: due_batches below sends them
        late = plan_late_readers(session, now=now)
    welcomed = _send_owed_welcomes(rt, now)
    with rt.database.session() as session:
        nudges = stalled(session, now, settings.stall_after)
        due = due_batches(session, now, settings.stall_after)
        # The clock now, not the tick's start: changes recorded just above count too.
        publishing = changes.due_count(session, utcnow())
    _send_batches(self, due)
    for nudge in nudges:
        enqueue(self, nudge.step, nudge.id)
    if publishing:
        self.app.send_task(PREFIX + "publish_changes")
    return {
        "started": len(claimed.started),
        "missed": len(claimed.missed),
        "nudged": len(nudges),
        "batches": len(due),
        "publishing": publishing,
        "expired": len(expired),
        "late": sum(late.readers.values()),
        "welcomed": welcomed,
    }


def _send_owed_welcomes(rt: Runtime, now: datetime) -> int:
    """Send the welcomes a confirming process did not (it died after its commit)."""
    window = rt.settings.welcome_window
    with rt.database.session() as session:
        owed = welcome_due(session, now=now, window=window, limit=WELCOMES_PER_TICK)
    if not owed:
        return 0
    welcomer = EmailWelcomer(rt.sender, Links(rt.settings.base_url, tokens_for(rt.settings)))
    return send_welcomes(rt.database.sessions, welcomer, owed, window=window)


@pipeline_task("assemble")
def assemble(self: Task, edition_id: int) -> int | None:
    """Assemble a started edition's digest, then render it."""
    rt = runtime_of(self.app)
    with rt.database.session() as session:
        digest_id = steps.assemble_step(
            session, edition_id, now=utcnow(), window=rt.settings.freshness_window
        )
    if digest_id is not None:
        enqueue(self, "render", digest_id)
    return digest_id


@pipeline_task("render")
def render(self: Task, digest_id: int) -> bool:
    """Render the digest once, then publish it."""
    rt = runtime_of(self.app)
    with rt.database.session() as session:
        go_on = steps.render_step(
            session, digest_id, now=utcnow(), window=rt.settings.freshness_window
        )
    if go_on:
        enqueue(self, "publish", digest_id)
    return go_on


@pipeline_task("publish")
def publish(self: Task, digest_id: int) -> bool:
    """Publish the digest, plan its dispatch, then refresh the static export and tell the hub."""
    rt = runtime_of(self.app)
    with rt.database.session() as session:
        published = steps.publish_step(
            session, digest_id, now=utcnow(), window=rt.settings.freshness_window
        )
    if published is None:
        return False
    # Committed with its public change: planning need not wait for files or the hub.
    enqueue(self, "plan", digest_id)
    _flush(rt, [published.slug])
    return True


@pipeline_task("publish_changes")
def publish_changes(self: Task) -> int:
    """Export and announce every publication with a due public change (retries included)."""
    return _flush(runtime_of(self.app), None)


def _flush(rt: Runtime, slugs: list[str] | None) -> int:
    """Flush pending public changes and log what happened; how many publications are done.

    A hub or disk that fails never holds an edition back: the change stays pending and
    the tick asks for it again when its next attempt is due.
    """
    hub_url = rt.settings.websub_hub_url or None
    public_dir = changes.public_dir_of(rt.settings)
    outcomes = changes.flush(rt.database, public_dir, hub_url, publications=slugs)
    for outcome in outcomes:
        ok = outcome.state is ChangeState.DONE or outcome.busy
        for line in outcome.lines(public_dir, hub_url):
            log.log(logging.INFO if ok else logging.WARNING, "%s", line)
    return sum(outcome.state is ChangeState.DONE for outcome in outcomes)


@pipeline_task("plan")
def plan(self: Task, digest_id: int) -> int:
    """Put every recipient in the ledger, then send the batches as a group."""
    rt = runtime_of(self.app)
    batch_ids = steps.plan_step(
        rt.database,
        digest_id,
        now=utcnow(),
        window=rt.settings.freshness_window,
        batch_size=rt.settings.dispatch_batch_size,
        lead=rt.schedule_lead,
    )
    _send_batches(self, _due(self, digest_id) if batch_ids else [])
    if not batch_ids:
        enqueue(self, "finalise", digest_id)
    return len(batch_ids)


@pipeline_task("send_batch")
def send_batch(self: Task, batch_id: int) -> bool:
    """Claim and send one batch; then finalise its digest if no batch of it is open."""
    rt = runtime_of(self.app)
    settings = rt.settings
    now = utcnow()
    outcome = batches.send_batch_step(
        rt.database,
        batch_id,
        rt.sender,
        now=now,
        base_url=settings.base_url,
        tokens=tokens_for(settings),
        lease=settings.dispatch_lease,
        options=dispatch_options(settings),
    )
    if outcome is None:
        return False
    if outcome.retry_in is not None and outcome.retry_in <= MAX_COUNTDOWN_S:
        # One message for the retry time; a longer wait is the tick's to enqueue.
        with rt.database.session() as session:
            mark_enqueued(session, batch_id, utcnow() + timedelta(seconds=outcome.retry_in))
        enqueue(self, "send_batch", batch_id, countdown=outcome.retry_in)
        return True
    if outcome.recovered:  # this probe closed the breaker: the waiting batches go now
        _send_batches(self, _due(self))
    if outcome.last:  # one finalise per edition, not one per batch
        enqueue(self, "finalise", outcome.digest_id)
    return True


@pipeline_task("finalise")
def finalise(self: Task, digest_id: int) -> str | None:
    """Give the digest its final state (sent, partially failed, failed) once no batch is open."""
    rt = runtime_of(self.app)
    with rt.database.session() as session:
        state = steps.finalise_step(session, digest_id)
    return state.value if state is not None else None


@pipeline_task("recover")
def recover(self: Task) -> int:
    """Reconcile stale claims and unknown batches now (the tick also does this every minute)."""
    rt = runtime_of(self.app)
    reconcile(rt.database, window=rt.settings.reconcile_window, sender=rt.sender)
    resent = _due(self, stall_after=timedelta(0))  # by hand: every due batch, now
    _send_batches(self, resent)
    return len(resent)
