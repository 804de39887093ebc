"""When to try a failed provider request again: a small, pure policy.

Retryable errors (429, 5xx, connection failures) are retried within a deadline:
a rate limit's reset time is honoured exactly; otherwise the wait grows
exponentially with *full jitter* (a uniform draw between 0 and the exponential
ceiling), which spreads many workers' retries apart instead of synchronising them.

An ``OutcomeUnknownError`` (the request went out, the answer was lost) is *not*
retried by default: SendGrid may already have accepted the batch, and SendGrid has
no idempotency key, so a resend could mail every recipient twice. The caller marks
such a batch for reconciliation instead; ``retry_unknown=True`` opts into resending.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from newsletter.errors import OutcomeUnknownError, RetryableError
from newsletter.providers.interfaces import Batch, EmailSender, SendResult

DEFAULT_BASE_S = 0.5
DEFAULT_CAP_S = 30.0


def backoff_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    base: float = DEFAULT_BASE_S,
    cap: float = DEFAULT_CAP_S,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (counting from 1)."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    if retry_after is not None:
        return max(0.0, retry_after)
    ceiling = min(cap, base * 2 ** min(attempt - 1, 62))
    return (rng or random).uniform(0.0, ceiling)


def send_with_retries(
    sender: EmailSender,
    batch: Batch,
    *,
    deadline_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    base: float = DEFAULT_BASE_S,
    cap: float = DEFAULT_CAP_S,
    rng: random.Random | None = None,
    retry_unknown: bool = False,
) -> SendResult:
    """Send ``batch``, retrying retryable errors until a wait would pass ``deadline_s``.

    Permanent errors propagate at once. When the deadline is reached the last error
    propagates unchanged (its ``retry_after`` intact, so a task can reschedule),
    with a note saying how many attempts were made.
    """
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return sender.send_batch(batch)
        except RetryableError as exc:
            if isinstance(exc, OutcomeUnknownError) and not retry_unknown:
                raise
            delay = backoff_delay(attempt, retry_after=exc.retry_after, base=base, cap=cap, rng=rng)
            elapsed = clock() - started
            if elapsed + delay > deadline_s:
                exc.add_note(
                    f"gave up on batch {batch.key} after {attempt} attempt(s) in "
                    f"{elapsed:.1f} s (deadline {deadline_s:.1f} s, next wait {delay:.1f} s)"
                )
                raise
            sleep(delay)
