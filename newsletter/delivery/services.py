"""Dispatch an edition: plan it, then claim, send and record batch after batch.

``dispatch`` is what the CLI and the Celery task call. It works on a ``Database``
rather than one session because each step must commit on its own: the claim
before the provider call, the outcome right after it. Any number of processes may
run it for the same edition at the same time; the ledger hands each batch to one.

Retries live in the ledger, not in a loop around the provider call: a retryable
failure puts the batch back to ``planned`` with a ``not_before`` time (the rate
limit's reset, or exponential backoff with full jitter), so a crashed worker loses
no retry, and another worker may pick the batch up when it is due.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from newsletter.db import Database, utcnow
from newsletter.delivery import breaker, deadline, ledger, recording, scheduling
from newsletter.delivery.breaker import BreakerPolicy
from newsletter.delivery.compose import Personaliser, edition_message, for_batch
from newsletter.delivery.edition_cache import editions_of
from newsletter.delivery.interfaces import (
    MAX_RECIPIENTS_PER_BATCH,
    Batch,
    EmailSender,
    Message,
    Recipient,
    ScheduledSender,
    SendResult,
)
from newsletter.delivery.ledger import Addressee, Claim, PlanResult
from newsletter.delivery.reconcile import DEFAULT_WINDOW, resolve_unknown
from newsletter.delivery.report import DeliveryReport, delivery_report, finalise
from newsletter.digests.models import DigestState
from newsletter.digests.services import get_digest
from newsletter.errors import (
    NewsletterError,
    OutcomeUnknownError,
    PermanentError,
    RecipientsRejected,
    RetryableError,
)
from subscribers.tokens import Tokens

ERASED = "the subscriber was erased before the edition was sent"
# After a bulk load this large, PostgreSQL's planner needs fresh statistics, or the
# per-batch UPDATEs may be planned as scans of the whole (formerly empty) table.
ANALYZE_AFTER = 10_000


@dataclass(frozen=True)
class DispatchOptions:
    """How one dispatch run behaves; the defaults suit SendGrid."""

    batch_size: int = MAX_RECIPIENTS_PER_BATCH
    lease: timedelta = timedelta(minutes=5)
    workers: int = 1
    reconcile_window: timedelta = DEFAULT_WINDOW
    rng: random.Random = field(default_factory=random.Random)
    # Transient failures are retried until the edition's deadline: its scheduled time
    # (or, sent by hand, its planning) plus this window; see ``deadline``.
    freshness_window: timedelta = deadline.DEFAULT_WINDOW
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)

    def retry_policy(self) -> deadline.RetryPolicy:
        """The deadline-bounded retry policy these options describe."""
        return deadline.RetryPolicy(
            freshness_window=self.freshness_window, breaker=self.breaker, rng=self.rng
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


@dataclass(frozen=True)
class Edition:
    """What every batch of one edition shares: the message built once, the personaliser.

    ``deliver_at`` is the edition's delivery instant: requests made before it are sent
    ahead with that ``send_at`` when the provider can hold mail (``scheduling``).
    """

    digest_id: int
    message: Message
    personaliser: Personaliser
    deliver_at: datetime | None = None


def load_edition(
    database: Database,
    digest_id: int,
    *,
    base_url: str,
    tokens: Tokens,
    deliver_at: datetime | None = None,
) -> Edition:
    """The edition's shared message and personaliser, built once per process while unchanged.

    Every batch task calls this: ``edition_cache`` keeps what it built, keyed by what
    it was built from (read afresh each time), so a changed edition is never served.
    """
    editions = editions_of(database)
    with database.session() as session:
        message, personaliser = editions.shared(
            session, digest_id, base_url=base_url, tokens=tokens
        )
    return Edition(digest_id, message, personaliser, deliver_at)


def send_claimed(
    database: Database,
    claim: Claim,
    edition: Edition,
    sender: EmailSender,
    *,
    options: DispatchOptions,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Send one claimed batch and record the outcome; returns how many recipients it settled."""
    with database.session() as session:
        people, erased = ledger.addressees(session, claim.batch_id)
        if erased:
            recording.fail_recipients(session, claim, dict.fromkeys(erased, ERASED), now=clock())
    message = for_batch(edition.message, claim.batch_id)
    by_email = {p.email.casefold(): p for p in people}
    recipients = [
        edition.personaliser.recipient(p.subscriber_id, p.list_id, p.email, p.name) for p in people
    ]
    send_at = scheduling.send_at_for(edition.deliver_at, clock(), sender)
    provider_batch = ""
    if recipients:
        try:
            provider_batch = _start_request(database, claim, sender, send_at, clock)
        except _Lost:
            return 0  # the lease ran out meanwhile and the batch moved on
        except RetryableError as exc:
            _retry_or_fail(database, claim, exc, options, clock)
            return 0
        except PermanentError as exc:
            with database.session() as session:
                recording.record_failed(session, claim, str(exc), now=clock())
            return len(people) + len(erased)
    part = 0
    while recipients:
        key = f"{claim.digest_id}-{claim.number}-{claim.attempts}" + (f"-r{part}" if part else "")
        try:
            request = Batch(key, message, tuple(recipients), send_at, provider_batch)
            result = sender.send_batch(request)
        except RecipientsRejected as exc:
            # The provider refused the whole request because of these addresses: they fail,
            # and the others go out in a new request (each rejection shrinks the list).
            reasons = _reasons(exc.rejected, by_email)
            with database.session() as session:
                recording.fail_recipients(session, claim, reasons, now=clock())
            refused = {email.casefold() for email in exc.rejected}
            remaining = [r for r in recipients if r.email.casefold() not in refused]
            if len(remaining) == len(recipients):  # names nobody we sent: treat as permanent
                with database.session() as session:
                    recording.record_failed(session, claim, str(exc), now=clock())
                return len(people) + len(erased)
            recipients = remaining
            part += 1
            continue
        except OutcomeUnknownError as exc:
            with database.session() as session:
                recording.record_unknown(session, claim, str(exc), now=clock())
            if provider_batch:  # cancel that batch id now, and send again under a new one
                scheduling.settle(database, sender, now=clock())
            return 0
        except RetryableError as exc:
            _retry_or_fail(database, claim, exc, options, clock)
            return 0
        except PermanentError as exc:
            with database.session() as session:
                recording.record_failed(session, claim, str(exc), now=clock())
            return len(people) + len(erased)
        _record_result(database, claim, result, by_email, clock, scheduled=send_at is not None)
        return len(people) + len(erased)
    with database.session() as session:  # every recipient was rejected or erased
        recording.record_failed(session, claim, "every recipient was refused", now=clock())
    return len(people) + len(erased)


class _Lost(NewsletterError):
    """The claim was lost before the request started."""


def _start_request(
    database: Database,
    claim: Claim,
    sender: EmailSender,
    send_at: datetime | None,
    clock: Callable[[], datetime],
) -> str:
    """Mark the request started (and, sending ahead, open its provider batch id); commits.

    Returns the provider batch id the request goes under ("" for an immediate send).
    """
    provider_batch = ""
    if send_at is not None:
        assert isinstance(sender, ScheduledSender)
        provider_batch = sender.create_batch_id()  # an unused id, if we die now, costs nothing
    with database.session() as session:  # committed before the first byte leaves
        now = clock()
        if not ledger.mark_started(session, claim, now=now):
            raise _Lost
        if send_at is not None:
            scheduling.open_group(session, claim, provider_batch, send_at, now=now)
    return provider_batch


def _reasons(rejected: dict[str, str], by_email: dict[str, Addressee]) -> dict[int, str]:
    return {
        by_email[email.casefold()].subscriber_id: reason
        for email, reason in rejected.items()
        if email.casefold() in by_email
    }


def _record_result(
    database: Database,
    claim: Claim,
    result: SendResult,
    by_email: dict[str, Addressee],
    clock: Callable[[], datetime],
    *,
    scheduled: bool,
) -> None:
    with database.session() as session:
        now = clock()
        if result.rejected:
            reasons = _reasons(result.rejected, by_email)
            recording.fail_recipients(session, claim, reasons, now=now)
        if scheduled:
            scheduling.record_scheduled(session, claim, result.provider_id, now=now)
        else:
            recording.record_accepted(session, claim, result.provider_id, now=now)


def _retry_or_fail(
    database: Database,
    claim: Claim,
    exc: RetryableError,
    options: DispatchOptions,
    clock: Callable[[], datetime],
) -> None:
    """Wait and retry (backoff, rate-limit reset, breaker), or fail past the deadline."""
    with database.session() as session:
        deadline.retry_or_fail(
            session,
            claim,
            str(exc),
            retry_after=exc.retry_after,
            now=clock(),
            policy=options.retry_policy(),
        )


def _worker(
    database: Database,
    edition: Edition,
    sender: EmailSender,
    options: DispatchOptions,
    progress: Progress,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> None:
    """Claim and send due batches until none is left to claim."""
    while True:
        with database.session() as session:
            now = clock()
            claim = held_until = None
            batch_id = ledger.next_due_batch(session, edition.digest_id, now)
            if batch_id is not None:
                # While the provider's breaker is open only one probe goes out at a time.
                admission = breaker.admit(session, breaker.EMAIL, now, lease=options.lease)
                if admission.allowed:
                    claim = ledger.claim_batch(session, batch_id, now=now, lease=options.lease)
                    if claim is None and admission.probe:
                        breaker.release_probe(session, breaker.EMAIL, now)
                else:
                    held_until = admission.wait_until
            wake_up = (
                None if batch_id is not None else ledger.next_wake_up(session, edition.digest_id)
            )
        if claim is not None:  # committed: now, and only now, call the provider
            settled = send_claimed(database, claim, edition, sender, options=options, clock=clock)
            progress.add(settled)
        elif held_until is not None:
            sleep(max(0.0, (held_until - clock()).total_seconds()))
        elif batch_id is not None:
            continue  # another worker won that batch; look for the next one
        elif wake_up is not None:
            sleep(max(0.0, (wake_up - clock()).total_seconds()))
        else:
            return


def _run_workers(
    database: Database,
    edition: Edition,
    sender: EmailSender,
    options: DispatchOptions,
    progress: Progress,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> None:
    """Run ``options.workers`` dispatch loops (threads) until no batch is left to claim."""
    if options.workers <= 1:
        _worker(database, edition, sender, options, progress, clock, sleep)
        return
    with ThreadPoolExecutor(options.workers, thread_name_prefix="dispatch") as pool:
        jobs = [
            pool.submit(_worker, database, edition, sender, options, progress, clock, sleep)
            for _ in range(options.workers)
        ]
        for job in jobs:
            job.result()


def dispatch(
    database: Database,
    digest_id: int,
    sender: EmailSender,
    *,
    base_url: str,
    tokens: Tokens,
    options: DispatchOptions | None = None,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    deliver_at: datetime | None = None,
) -> DeliveryReport:
    """Send an edition to its list, each subscriber once; returns the delivery report.

    With ``deliver_at`` ahead and a provider that holds mail, requests are sent ahead
    for that instant (``scheduling``): the report says ``sending`` until it passes.
    """
    options = options or DispatchOptions()
    progress = progress or Progress()
    with database.session() as session:
        digest = get_digest(session, digest_id)
        already_final = digest.state in (DigestState.SENT,)
    if not already_final:
        planned = plan(database, digest_id, options=options, clock=clock)
        progress.total = planned.queued
        edition = load_edition(
            database, digest_id, base_url=base_url, tokens=tokens, deliver_at=deliver_at
        )
        _run_workers(database, edition, sender, options, progress, clock, sleep)
        with database.session() as session:
            finalise(session, digest_id)
    with database.session() as session:
        return delivery_report(session, digest_id)


def plan(
    database: Database,
    digest_id: int,
    *,
    options: DispatchOptions | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> PlanResult:
    """Plan the edition's deliveries in one transaction (all or nothing), with their deadline.

    The deadline (``send_batches.deliver_by``) is the scheduled edition's time plus the
    freshness window, or now plus the window for an edition sent by hand.
    """
    options = options or DispatchOptions()
    with database.session() as session:
        now = clock()
        result = ledger.plan_dispatch(session, digest_id, now=now, batch_size=options.batch_size)
        deliver_by = deadline.deadline_for(
            session, digest_id, now=now, window=options.freshness_window
        )
        deadline.set_deadline(session, digest_id, deliver_by)
    if result.queued >= ANALYZE_AFTER:
        with database.session() as session:
            ledger.refresh_statistics(session)
    return result


def reconcile(
    database: Database,
    *,
    window: timedelta = DEFAULT_WINDOW,
    clock: Callable[[], datetime] = utcnow,
    sender: EmailSender | None = None,
) -> list[int]:
    """The periodic tick: settle what was sent ahead, expire stale claims, reconcile, finalise.

    Returns the editions that have batches waiting to be sent (resent, or left by a
    dead worker), which the caller dispatches again. Editions whose last batches
    were settled by events meanwhile get their final state here. ``sender`` is
    needed to cancel provider batch ids whose answer was lost (``scheduling``).
    """
    with database.session() as session:
        resolve_unknown(session, now=clock(), window=window)
    scheduling.settle(database, sender, now=clock())
    with database.session() as session:
        sending = ledger.sending_digests(session)
    pending: list[int] = []
    for digest_id in sending:
        with database.session() as session:
            if finalise(session, digest_id) is None and ledger.has_planned(session, digest_id):
                pending.append(digest_id)
    return pending


def send_test(
    database: Database,
    digest_id: int,
    sender: EmailSender,
    address: str,
    *,
    base_url: str,
    tokens: Tokens,
    signup_url: str,
) -> SendResult:
    """Send the edition to one address, marked as a test, outside the ledger."""
    with database.session() as session:
        digest = get_digest(session, digest_id)
        message = edition_message(digest, test=True)
        personaliser = Personaliser.for_digest(digest, message, base_url=base_url, tokens=tokens)
        recipient: Recipient = personaliser.anonymous(address, signup_url)
    return sender.send_batch(Batch(f"test-{digest_id}", message, (recipient,)))


def send_waiting(
    database: Database,
    digest_id: int,
    sender: EmailSender,
    *,
    base_url: str,
    tokens: Tokens,
    options: DispatchOptions | None = None,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Send the batches an edition has waiting, planning nobody new (``digest resend``)."""
    options = options or DispatchOptions()
    progress = progress or Progress()
    edition = load_edition(database, digest_id, base_url=base_url, tokens=tokens)
    _run_workers(database, edition, sender, options, progress, clock, sleep)
    with database.session() as session:
        finalise(session, digest_id)
    with database.session() as session:
        return delivery_report(session, digest_id)
