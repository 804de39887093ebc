"""Send an edition in this process: plan it, then claim, send and record batch after batch.

``dispatch`` is what ``digest send`` runs (``send_waiting``: ``digest resend``). It
plans with the pipeline's ``steps.plan`` and sends every batch through
``batches.take_ready`` and ``batches.send_taken``, the rules a batch task follows:
the cancel check, the breaker, the claim before the provider call, retries in the
ledger. It works on a ``Database`` rather than one session because each step must
commit on its own. Any number of processes may run it for the same edition at the
same time; the ledger hands each batch to one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Required, TypedDict, Unpack

from newsletter.db import Database, utcnow
from newsletter.delivery import ledger
from newsletter.delivery.breaker import BreakerPolicy
from newsletter.delivery.models import BatchState
from newsletter.delivery.report import DeliveryReport, delivery_report, finalise
from newsletter.delivery.services import DispatchOptions, EditionSource, load_edition
from newsletter.digests.models import DigestState
from newsletter.digests.services import get_digest
from newsletter.pipeline.batches import Take, send_taken, take_ready
from newsletter.pipeline.steps import plan
from newsletter.providers.interfaces import EmailSender
from newsletter.settings import Settings
from subscribers.tokens import Tokens


def dispatch_options(settings: Settings, *, workers: int = 1) -> DispatchOptions:
    """The dispatch options the settings call for: lease, batch size, deadline, breaker."""
    return DispatchOptions(
        batch_size=settings.dispatch_batch_size,
        lease=settings.dispatch_lease,
        workers=workers,
        freshness_window=settings.freshness_window,
        breaker=BreakerPolicy(
            threshold=settings.breaker_threshold,
            probe_interval=settings.breaker_probe_interval,
            max_probe_interval=settings.breaker_max_probe_interval,
        ),
    )


@dataclass
class Progress:
    """Running totals a progress bar shows; ``on_batch`` is called after each recorded batch."""

    total: int = 0
    done: int = 0
    on_batch: Callable[[Progress], None] | None = None

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, count: int) -> None:
        """Count ``count`` more recipients as handled (workers call this from their threads)."""
        with self._lock:
            self.done += count
            if self.on_batch is not None:
                self.on_batch(self)


def _take_next(run: _Run, now: datetime) -> tuple[int | None, Take]:
    """The next due batch of the edition (if any) and what the rules made of it."""
    with run.database.session() as session:
        batch = ledger.next_due(session, run.digest_id, now)
        if batch is None or batch.state is not BatchState.PLANNED:
            return None if batch is None else batch.id, Take()
        return batch.id, take_ready(session, batch, run.source, now=now, lease=run.options.lease)


@dataclass(frozen=True)
class _Run:
    """What every dispatch loop of one send works with."""

    database: Database
    digest_id: int
    sender: EmailSender
    options: DispatchOptions
    progress: Progress
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    source: EditionSource  # its ``at``: the delivery instant asked for by hand, if any


def _worker(run: _Run) -> None:
    """Claim and send due batches until none is left to claim (or the edition is cancelled)."""
    database, digest_id, clock, sleep = run.database, run.digest_id, run.clock, run.sleep
    while True:
        now = clock()
        batch_id, take = _take_next(run, now)
        if take.claim is not None:  # committed: now, and only now, call the provider
            # No look for the last open batch: this loop finalises once none is left.
            outcome = send_taken(
                database,
                take,
                run.sender,
                options=run.options,
                now=now,
                clock=clock,
                find_last=False,
            )
            run.progress.add(outcome.settled)
        elif take.cancelled:
            return
        elif take.held_until is not None:
            sleep(max(0.0, (take.held_until - clock()).total_seconds()))
        elif batch_id is not None:
            continue  # another worker won that batch; look for the next one
        else:
            with database.session() as session:
                wake_up = ledger.next_wake_up(session, digest_id)
            if wake_up is None:
                return
            sleep(max(0.0, (wake_up - clock()).total_seconds()))


def _run_workers(run: _Run) -> None:
    """Run ``options.workers`` dispatch loops (threads) until no batch is left to claim."""
    if run.options.workers <= 1:
        _worker(run)
        return
    with ThreadPoolExecutor(run.options.workers, thread_name_prefix="dispatch") as pool:
        jobs = [pool.submit(_worker, run) for _ in range(run.options.workers)]
        for job in jobs:
            job.result()


class SendArgs(TypedDict, total=False):
    """What ``dispatch`` and ``send_waiting`` take besides the edition and the sender."""

    base_url: Required[str]
    tokens: Required[Tokens]
    options: DispatchOptions | None
    progress: Progress | None
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]


def dispatch(
    database: Database,
    digest_id: int,
    sender: EmailSender,
    *,
    deliver_at: datetime | None = None,
    **how: Unpack[SendArgs],
) -> DeliveryReport:
    """Send an edition to its list, each subscriber once; returns the delivery report.

    With ``deliver_at`` ahead and a provider that holds mail, requests are sent ahead
    for that instant (``scheduling``): the report says ``sending`` until it passes.
    """
    with database.session() as session:
        pending = get_digest(session, digest_id).state not in (DigestState.SENT,)
    return _send(database, digest_id, sender, how, plan_first=pending, send=pending, at=deliver_at)


def send_waiting(
    database: Database, digest_id: int, sender: EmailSender, **how: Unpack[SendArgs]
) -> DeliveryReport:
    """Send the batches an edition has waiting, planning nobody new (``digest resend``)."""
    return _send(database, digest_id, sender, how, plan_first=False, send=True, at=None)


def _send(
    database: Database,
    digest_id: int,
    sender: EmailSender,
    how: SendArgs,
    *,
    plan_first: bool,
    send: bool,
    at: datetime | None,
) -> DeliveryReport:
    """Plan the edition (``plan_first``), send what waits (``send``), report; ``at``: deliver_at."""
    options = how.get("options") or DispatchOptions()
    progress = how.get("progress") or Progress()
    clock = how.get("clock", utcnow)
    if plan_first:
        progress.total = plan(database, digest_id, options=options, clock=clock).queued
    if send:
        # Built now, so that an edition not rendered yet is refused before anything is sent.
        load_edition(database, digest_id, base_url=how["base_url"], tokens=how["tokens"])
        sleep = how.get("sleep", time.sleep)
        run = _Run(
            database,
            digest_id,
            sender,
            options,
            progress,
            clock,
            sleep,
            EditionSource(database, how["base_url"], how["tokens"], at),
        )
        _run_workers(run)
        with database.session() as session:
            finalise(session, digest_id)
    with database.session() as session:
        return delivery_report(session, digest_id)
