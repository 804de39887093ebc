"""The retry policy: honour rate-limit resets, else jittered exponential backoff."""

from __future__ import annotations

import random

import pytest

from newsletter.providers.retry import backoff_delay


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
