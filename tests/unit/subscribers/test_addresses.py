"""Address normalisation: the fast path for plain addresses agrees with email-validator."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from newsletter.errors import InvalidInputError
from subscribers.addresses import email_hash, normalise_email

CASES = [
    "ann@example.org",
    "Ann.Lee+news@Example.ORG",
    "o'brien@example.co.uk",
    "x@münchen.de",
    "josé@example.org",
    "a..b@example.org",
    ".a@example.org",
    "a.@example.org",
    "a@b",
    "a@localhost",
    "a@example.invalid",
    "a@-example.org",
    "a@exa_mple.org",
    '"quoted"@example.org',
    "a b@example.org",
    "a@example..org",
    "no-at-sign",
    "@example.org",
    "x" * 65 + "@example.org",
    "a@" + "b" * 64 + ".org",
    "a@" + ".".join(["b" * 60] * 4) + ".org",
]


def _reference(raw: str) -> str | None:
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


@pytest.mark.parametrize("raw", CASES)
def test_agrees_with_email_validator(raw: str) -> None:
    """Accepted addresses normalise exactly as email-validator does; refused ones raise."""
    expected = _reference(raw)
    if expected is None:
        with pytest.raises(InvalidInputError, match="email"):
            normalise_email(raw)
    else:
        assert normalise_email(raw) == expected


def test_errors_name_the_field_and_hash_is_stable() -> None:
    """The message names the caller's field; the hash is the SHA-256 hex of the address."""
    with pytest.raises(InvalidInputError, match=r"^row 3: 'bad' is not a valid address"):
        normalise_email("bad", where="row 3")
    assert email_hash("ann@example.org") == email_hash("ann@example.org")
    assert len(email_hash("ann@example.org")) == 64
