"""Email address validation, normalisation and hashing.

Addresses are checked for syntax only (no DNS: an import of 100k rows must not make
100k lookups) and stored lower-cased, so ``Ann@Example.org`` and ``ann@example.org``
are one subscriber. The hash keys the suppression list, so an erased address can
still be recognised without being kept.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from newsletter.errors import InvalidInputError

MAX_EMAIL_LENGTH = 320
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
    if (
        at
        and len(candidate) <= _FAST_PATH_MAX
        and len(local) <= 64
        and _PLAIN_LOCAL.fullmatch(local)
    ):
        # Imports repeat a few thousand domains over 100k rows: validate each domain once
        # with email-validator and the plain local part with the same rule it applies.
        normalised_domain = _domain(domain.lower())
        if normalised_domain is not None:
            return f"{local}@{normalised_domain}".lower()
    try:
        checked = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInputError(f"{where}: {candidate!r} is not a valid address ({exc})") from None
    return checked.normalized.lower()


@lru_cache(maxsize=65536)
def _domain(domain: str) -> str | None:
    """The normalised domain if email-validator accepts it, else None (full path reports why)."""
    try:
        return validate_email(f"postmaster@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def email_hash(email: str) -> str:
    """SHA-256 hex digest of a normalised address."""
    return hashlib.sha256(email.encode()).hexdigest()
