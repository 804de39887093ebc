"""Send one claimed batch and record its outcome; the options and shared edition it needs.

``send_claimed`` is what the pipeline calls (``newsletter.pipeline.batches``) once a
claim is committed. The claim's own transaction has already read what the request
needs (the edition, ``EditionSource``; the recipients, ``address``). Sending works on
a ``Database`` rather than one session because two more steps must each commit on
their own: the request marked started before the provider call, the outcome right
after it. ``reconcile`` is the tick's ledger upkeep.

Retries live in the ledger, not in a loop around the provider call: a retryable
failure puts the batch back to ``planned`` with a ``not_before`` time (the rate
limit's reset, or exponential backoff with full jitter), so a crashed worker loses
no retry, and another worker may pick the batch up when it is due.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import NamedTuple

from sqlalchemy.orm import Session

from newsletter import metrics
from newsletter.db import Database, utcnow
from newsletter.delivery import deadline, ledger, recording, scheduling, settling
from newsletter.delivery.breaker import BreakerPolicy
from newsletter.delivery.compose import Personaliser, edition_message, for_batch
from newsletter.delivery.edition_cache import editions_of
from newsletter.delivery.ledger import Addressee, Claim
from newsletter.delivery.reconcile import DEFAULT_WINDOW, resolve_unknown
from newsletter.delivery.report import finalise
from newsletter.digests.services import get_digest
from newsletter.errors import (
    NewsletterError,
    OutcomeUnknownError,
    PermanentError,
    RecipientsRejected,
    RetryableError,
)
from newsletter.providers.interfaces import (
    MAX_RECIPIENTS_PER_BATCH,
    Batch,
    EmailSender,
    Message,
    Recipient,
    ScheduledSender,
    SendResult,
    resends_replace,
)
from subscribers.tokens import Tokens

ERASED = "the subscriber was erased before the edition was sent"


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
    variant_id: int | None = None  # the topic variant of the edition (None: the full one)


@dataclass(frozen=True)
class EditionSource:
    """Where a worker's batches get their edition: this process's cache, the personal links.

    ``at`` is the delivery instant asked for by hand, for batches planned without one.
    """

    database: Database
    base_url: str
    tokens: Tokens
    at: datetime | None = None

    def edition(
        self,
        session: Session,
        digest_id: int,
        *,
        deliver_at: datetime | None = None,
        variant_id: int | None = None,
    ) -> Edition:
        """The edition's shared message and personaliser, built once per process while unchanged.

        ``edition_cache`` keeps what it built, keyed by what it was built from (read
        afresh each time, in ``session``), so a changed edition is never served.
        ``variant_id`` names the topic variant a batch's readers get.
        """
        message, personaliser = editions_of(self.database).shared(
            session, digest_id, base_url=self.base_url, tokens=self.tokens, variant_id=variant_id
        )
        return Edition(digest_id, message, personaliser, deliver_at or self.at, variant_id)


def load_edition(
    database: Database,
    digest_id: int,
    *,
    base_url: str,
    tokens: Tokens,
    deliver_at: datetime | None = None,
    variant_id: int | None = None,
) -> Edition:
    """The edition (``EditionSource.edition``) read in a session of its own."""
    source = EditionSource(database, base_url, tokens)
    with database.session() as session:
        return source.edition(session, digest_id, deliver_at=deliver_at, variant_id=variant_id)


class Addressed(NamedTuple):
    """A claimed batch's recipients, and how many it had with those erased since planning."""

    people: list[Addressee]
    everyone: int


def address(session: Session, claim: Claim, *, now: datetime) -> Addressed:
    """Read the claimed batch's recipients; fail those erased since planning (caller commits).

    Read in the claim's own transaction (``pipeline.batches.take_ready``): the claimed
    recipients are this transaction's own writes, and a second session would only add
    its connection check, BEGIN and COMMIT.
    """
    people, erased = ledger.addressees(session, claim.batch_id)
    if erased:
        recording.fail_recipients(session, claim, dict.fromkeys(erased, ERASED), now=now)
    return Addressed(people, len(people) + len(erased))


class Sent(NamedTuple):
    """What ``send_claimed`` did: recipients settled, and whether the provider took it.

    ``taken``: the provider accepted (or scheduled) the request and this worker
    recorded it, which also closed the breaker; nothing is left to read back.
    """

    settled: int
    taken: bool = False


def send_claimed(
    database: Database,
    claim: Claim,
    edition: Edition,
    sender: EmailSender,
    *,
    addressed: Addressed,
    options: DispatchOptions,
    clock: Callable[[], datetime] = utcnow,
) -> Sent:
    """Send one claimed batch to its ``addressed`` recipients and record the outcome."""
    people, everyone = addressed
    recipients = [
        edition.personaliser.recipient(p.subscriber_id, p.list_id, p.email, p.name) for p in people
    ]
    if not recipients:
        with database.session() as session:  # every recipient was erased
            recording.record_failed(session, claim, "every recipient was refused", now=clock())
        return Sent(everyone)
    send_at = scheduling.send_at_for(edition.deliver_at, clock(), sender)
    try:
        provider_batch = _start_request(database, claim, sender, send_at, clock)
    except _Lost:
        return Sent(0)  # the lease ran out meanwhile and the batch moved on
    except (RetryableError, PermanentError) as exc:
        return Sent(everyone if _failed(database, claim, exc, options, clock, everyone) else 0)
    request = _Request(for_batch(edition.message, claim.batch_id), send_at, provider_batch)
    by_email = {p.email.casefold(): p for p in people}
    settled = _send(database, claim, request, recipients, by_email, sender, options, clock)
    return Sent(everyone if settled is not _Settled.OPEN else 0, taken=settled is _Settled.TAKEN)


class _Settled(Enum):
    """How a claimed batch's request ended for the ledger."""

    OPEN = "open"  # nothing settled: retried later, lost, or left to reconciliation
    SETTLED = "settled"
    TAKEN = "taken"  # settled, and the provider's acceptance recorded by this worker


def _settled(done: bool) -> _Settled:
    return _Settled.SETTLED if done else _Settled.OPEN


class _Request(NamedTuple):
    """What every provider request for one claimed batch shares."""

    message: Message
    send_at: datetime | None
    provider_batch: str


def _send(
    database: Database,
    claim: Claim,
    request: _Request,
    recipients: list[Recipient],
    by_email: dict[str, Addressee],
    sender: EmailSender,
    options: DispatchOptions,
    clock: Callable[[], datetime],
) -> _Settled:
    """Send the request (again without the addresses the provider refused); how it ended."""
    part = 0
    while recipients:
        key = f"{claim.digest_id}-{claim.number}-{claim.attempts}" + (f"-r{part}" if part else "")
        try:
            batch = Batch(key, request.message, tuple(recipients), *request[1:])
            result = sender.send_batch(batch)
        except RecipientsRejected as exc:
            # The provider refused the whole request because of these addresses: they fail,
            # and the others go out in a new request (each rejection shrinks the list).
            with database.session() as session:
                recording.fail_recipients(
                    session, claim, _reasons(exc.rejected, by_email), now=clock()
                )
            refused = {email.casefold() for email in exc.rejected}
            metrics.request_outcome("rejected", len(refused))
            remaining = [r for r in recipients if r.email.casefold() not in refused]
            if len(remaining) == len(recipients):  # names nobody we sent: treat as permanent
                return _settled(_failed(database, claim, exc, options, clock, len(recipients)))
            recipients = remaining
            part += 1
            continue
        except OutcomeUnknownError as exc:
            with database.session() as session:
                recording.record_unknown(session, claim, str(exc), now=clock())
            metrics.request_outcome("unknown", len(recipients))
            if request.provider_batch:  # cancel that batch id now, and send again under a new one
                settling.settle(database, sender, now=clock())
            return _Settled.OPEN
        except (RetryableError, PermanentError) as exc:
            return _settled(_failed(database, claim, exc, options, clock, len(recipients)))
        scheduled = request.send_at is not None
        recorded = _record_result(database, claim, result, by_email, clock, scheduled=scheduled)
        taken = len(recipients) - len(result.rejected)
        metrics.request_outcome("scheduled" if scheduled else "accepted", taken)
        if result.rejected:
            metrics.request_outcome("rejected", len(result.rejected))
        return _Settled.TAKEN if recorded else _Settled.SETTLED
    with database.session() as session:  # every recipient was rejected
        recording.record_failed(session, claim, "every recipient was refused", now=clock())
    return _Settled.SETTLED


def _failed(
    database: Database,
    claim: Claim,
    exc: RetryableError | PermanentError,
    options: DispatchOptions,
    clock: Callable[[], datetime],
    recipients: int,
) -> bool:
    """Record a failed request: retried later (False) or failed for good (True, settled)."""
    if isinstance(exc, RetryableError):
        _retry_or_fail(database, claim, exc, options, clock)
        metrics.request_outcome("retried", 0)
        return False
    with database.session() as session:
        recording.record_failed(session, claim, str(exc), now=clock())
    metrics.request_outcome("failed", recipients)
    return True


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
) -> bool:
    """Record the provider's answer; whether this worker's claim still held the batch."""
    with database.session() as session:
        now = clock()
        if result.rejected:
            reasons = _reasons(result.rejected, by_email)
            recording.fail_recipients(session, claim, reasons, now=now)
        if scheduled:
            return scheduling.record_scheduled(session, claim, result.provider_id, now=now)
        return recording.record_accepted(session, claim, result.provider_id, now=now)


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
        if resends_replace(sender):  # no second copy possible, no event to wait for
            resolve_unknown(session, now=clock(), window=timedelta(0), max_resends=None)
        else:
            resolve_unknown(session, now=clock(), window=window)
    settling.settle(database, sender, now=clock())
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
