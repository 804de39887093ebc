"""Email address validation, normalisation and hashing.

Addresses are checked for syntax only (no DNS: an import of 100k rows must not make
100k lookups) and stored lower-cased, so ``Ann@Example.org`` and ``ann@example.org``
are one subscriber. The hash keys the suppression list, so an erased address can
still be recognised without being kept.

Only ASCII local parts are accepted: SendGrid cannot deliver to SMTPUTF8 addresses
such as ``josé@example.com``, so we refuse them at the door rather than fail at send
time. Internationalised domains are fine: they are stored in their ASCII (punycode)
form, ``ann@bücher.de`` as ``ann@xn--bcher-kva.de``, which every provider accepts.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from newsletter.errors import InvalidInputError

MAX_EMAIL_LENGTH = 320
MAX_LOCAL_LENGTH = 64  # RFC 5321 4.5.3.1.1; email-validator lets longer ones through
# An unquoted ASCII local part (RFC 5322 dot-atom, at most 64 characters): the form of
# nearly every real address, and one email-validator accepts as it is.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_FAST_PATH_MAX = 200  # longer addresses take the full path and its length rules


def normalise_email(raw: str, *, where: str = "email") -> str:
    """The normalised, lower-cased address, or ``InvalidInputError`` naming ``where``."""
    candidate = raw.strip()
    if not candidate:
        raise InvalidInputError(f"{where}: an email address is required")
    if len(candidate) > MAX_EMAIL_LENGTH:
        raise InvalidInputError(f"{where}: longer than {MAX_EMAIL_LENGTH} characters")
    local, at, domain = candidate.rpartition("@")
    if len(local) > MAX_LOCAL_LENGTH:
        raise InvalidInputError(
            f"{where}: {candidate[:80]!r} has {len(local)} characters before the @; "
            f"an address may have at most {MAX_LOCAL_LENGTH} characters before the @"
        )
    if at and len(candidate) <= _FAST_PATH_MAX and _PLAIN_LOCAL.fullmatch(local):
        # Imports repeat a few thousand domains over 100k rows: validate each domain once
        # with email-validator and the plain local part with the same rule it applies.
        normalised_domain = _domain(domain.lower())
        # Punycode can lengthen a domain: a result too long takes the full path's rules.
        if normalised_domain is not None and len(local) + len(normalised_domain) < 254:
            return f"{local}@{normalised_domain}".lower()
    if not local.isascii():
        shown = "".join(sorted({char for char in local if not char.isascii()}))[:10]
        raise InvalidInputError(
            f"{where}: {candidate[:80]!r} has non-ASCII characters before the @ ({shown}), "
            "which our email provider cannot deliver to; use an address that is plain ASCII "
            "before the @"
        )
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidInputError(f"{where}: {candidate!r} is not a valid address ({exc})") from None
    # ascii_email is set whenever smtputf8 is refused; the domain in punycode.
    return (checked.ascii_email or checked.normalized).lower()


@lru_cache(maxsize=65536)
def _domain(domain: str) -> str | None:
    """The ASCII (punycode) domain if email-validator accepts it, else None (full path: why)."""
    try:
        return validate_email(f"postmaster@{domain}", check_deliverability=False).ascii_domain
    except EmailNotValidError:
        return None


def email_hash(email: str) -> str:
    """SHA-256 hex digest of a normalised address."""
    return hashlib.sha256(email.encode()).hexdigest()
