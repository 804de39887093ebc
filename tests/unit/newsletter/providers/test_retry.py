"""The retry policy: honour rate-limit resets, else jittered exponential backoff, in a deadline."""

from __future__ import annotations

import random

import pytest

from newsletter.errors import OutcomeUnknownError, PermanentError, RetryableError
from newsletter.providers.interfaces import Batch, Message, Recipient, SendResult
from newsletter.providers.retry import backoff_delay, send_with_retries

BATCH = Batch(
    "ed-1-b-1",
    Message(from_email="d@p.example", from_name="", subject="s", text="t", html="<p>h</p>"),
    (Recipient("r@m.example"),),
)


class ScriptedSender:
    """Raises the queued errors in order, then succeeds."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.attempts = 0

    def send_batch(self, batch: Batch) -> SendResult:
        """Fail with the next queued error, or succeed."""
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        return SendResult(provider_id=f"ok-{self.attempts}")


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        """Current fake time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Advance the fake time."""
        self.sleeps.append(seconds)
        self.now += seconds


def test_retry_after_is_honoured_exactly() -> None:
    """A known reset time is the wait, whatever the attempt number; a negative one is zero."""
    assert backoff_delay(5, retry_after=12.5) == 12.5
    assert backoff_delay(1, retry_after=-3.0) == 0.0


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    """Without retry_after the wait is uniform in [0, min(cap, base * 2^(attempt-1))]."""
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (8, 30.0), (500, 30.0)]:
        delays = [backoff_delay(attempt, base=0.5, cap=30.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # the draw really spreads over the whole range


def test_attempt_counts_from_one() -> None:
    """Attempt 0 is a caller bug and is refused."""
    with pytest.raises(ValueError, match="attempt counts from 1"):
        backoff_delay(0)


def test_retryable_errors_are_retried_until_success() -> None:
    """429 and 5xx errors are retried, waiting as the policy says, and the success is returned."""
    time = FakeTime()
    sender = ScriptedSender(RetryableError("429", retry_after=4.0), RetryableError("500"))
    result = send_with_retries(
        sender, BATCH, deadline_s=60, sleep=time.sleep, clock=time.clock, rng=random.Random(1)
    )
    assert result.provider_id == "ok-3"
    assert time.sleeps[0] == 4.0
    assert 0.0 <= time.sleeps[1] <= 1.0


def test_giving_up_at_the_deadline_keeps_the_last_error() -> None:
    """When the next wait would pass the deadline, the last error propagates with a note."""
    time = FakeTime()
    sender = ScriptedSender(*[RetryableError("500", retry_after=10.0) for _ in range(10)])
    with pytest.raises(RetryableError) as caught:
        send_with_retries(sender, BATCH, deadline_s=25, sleep=time.sleep, clock=time.clock)
    assert sender.attempts == 3
    assert caught.value.retry_after == 10.0
    assert "gave up on batch ed-1-b-1 after 3 attempt(s)" in caught.value.__notes__[0]


def test_permanent_errors_are_not_retried() -> None:
    """A permanent error propagates after one attempt, with no waiting."""
    time = FakeTime()
    sender = ScriptedSender(PermanentError("400"))
    with pytest.raises(PermanentError):
        send_with_retries(sender, BATCH, deadline_s=60, sleep=time.sleep, clock=time.clock)
    assert (sender.attempts, time.sleeps) == (1, [])


def test_unknown_outcome_is_not_resent_unless_asked() -> None:
    """A lost answer is not resent blindly by default, but is when retry_unknown is set."""
    time = FakeTime()
    cautious = ScriptedSender(OutcomeUnknownError("dropped"))
    with pytest.raises(OutcomeUnknownError):
        send_with_retries(cautious, BATCH, deadline_s=60, sleep=time.sleep, clock=time.clock)
    assert cautious.attempts == 1
    bold = ScriptedSender(OutcomeUnknownError("dropped"))
    result = send_with_retries(
        bold, BATCH, deadline_s=60, sleep=time.sleep, clock=time.clock, retry_unknown=True
    )
    assert (bold.attempts, result.provider_id) == (2, "ok-2")
