"""Address normalisation: the fast path agrees with email-validator; ASCII local parts only."""

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
    # Short in Unicode, too long once the domain is in punycode: the fast path must not pass it.
    "y" * 60 + "@" + ".".join(["中文新闻简报每日更新版本测试"] * 4) + ".cn",
]


def _reference(raw: str) -> str | None:
    """email-validator's answer, plus RFC 5321's 64 characters before the @ (it allows more)."""
    if len(raw.strip().rpartition("@")[0]) > 64:
        return None
    try:
        checked = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return (checked.ascii_email or checked.normalized).lower()


@pytest.mark.parametrize("raw", CASES)
def test_agrees_with_email_validator(raw: str) -> None:
    """Accepted addresses normalise as email-validator's ASCII form; refused ones raise."""
    expected = _reference(raw)
    if expected is None:
        with pytest.raises(InvalidInputError, match="email"):
            normalise_email(raw)
    else:
        assert normalise_email(raw) == expected


@pytest.mark.parametrize("local", ["x" * 65, "a." * 32 + "b", "x" * 200])
def test_local_part_is_at_most_64_characters(local: str) -> None:
    """RFC 5321 (4.5.3.1.1): 64 characters before the @; one more is refused (issue 17 B10)."""
    assert normalise_email("x" * 64 + "@example.org") == "x" * 64 + "@example.org"
    with pytest.raises(InvalidInputError, match=r"^email: .*64 characters before the @"):
        normalise_email(local + "@example.org")


def test_errors_name_the_field_and_hash_is_stable() -> None:
    """The message names the caller's field; the hash is the SHA-256 hex of the address."""
    with pytest.raises(InvalidInputError, match=r"^row 3: 'bad' is not a valid address"):
        normalise_email("bad", where="row 3")
    assert email_hash("ann@example.org") == email_hash("ann@example.org")
    assert len(email_hash("ann@example.org")) == 64


def test_non_ascii_local_part_is_refused_with_a_clear_message() -> None:
    """An SMTPUTF8 local part (josé@) is refused, naming the field and the characters."""
    with pytest.raises(
        InvalidInputError, match=r"^row 4: 'josé@example\.com' has non-ASCII"
    ) as info:
        normalise_email("josé@example.com", where="row 4")
    assert "(é)" in str(info.value)
    assert "plain ASCII before the @" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("ann@bücher.de", "ann@xn--bcher-kva.de"),
        ("Ann@BÜCHER.de", "ann@xn--bcher-kva.de"),
        ("ann@xn--bcher-kva.de", "ann@xn--bcher-kva.de"),
    ],
)
def test_idn_domains_are_stored_in_punycode(raw: str, stored: str) -> None:
    """An internationalised domain is accepted and stored in its ASCII (punycode) form."""
    assert normalise_email(raw) == stored
