"""One mapping of refusals to HTTP: a rate limit is 429 with its own Retry-After."""

from __future__ import annotations

from newsletter.errors import InvalidInputError, RateLimited
from newsletter.web.handlers import headers_of, status_of


def test_rate_limited_is_429_with_its_computed_retry_after() -> None:
    """Sign-ups and sign-ins raise the same error; the header carries its seconds."""
    limited = RateLimited("Too many", retry_after=417)
    assert status_of(limited) == 429
    assert headers_of(limited) == {"Retry-After": "417"}


def test_other_refusals_carry_no_extra_headers() -> None:
    """Only a rate limit adds a header."""
    assert headers_of(InvalidInputError("x")) is None
