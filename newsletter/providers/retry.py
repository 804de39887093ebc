"""How long to wait before trying a failed provider request again: a small, pure policy.

A rate limit's reset time is honoured exactly; otherwise the wait grows
exponentially with *full jitter* (a uniform draw between 0 and the exponential
ceiling), which spreads many workers' retries apart instead of synchronising them.
The retries themselves live in the ledger, bounded by the edition's deadline
(``newsletter.delivery.deadline``); a lost answer (``OutcomeUnknownError``) is never
resent blindly but reconciled.
"""

from __future__ import annotations

import random

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
