"""The suppression list: addresses never to be mailed again, kept by hash.

An address is suppressed after a hard bounce, a spam report, a manual block, a global
unsubscribe or an erasure. A new, explicit opt-in lifts only the last two
(``LIFTED_BY_OPT_IN``, ``lift_suppression``). The caller commits.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from subscribers.addresses import email_hash, normalise_email
from subscribers.models import Suppression, SuppressionReason

# A new, explicit opt-in outweighs these; bounces, spam reports and manual blocks do not.
LIFTED_BY_OPT_IN = frozenset({SuppressionReason.GLOBAL_UNSUBSCRIBE, SuppressionReason.ERASED})


def suppression_of(session: Session, email: str) -> Suppression | None:
    """The suppression entry of a normalised address, if any."""
    return session.scalar(select(Suppression).where(Suppression.email_hash == email_hash(email)))


def suppress(
    session: Session, raw_email: str, reason: SuppressionReason, *, note: str = ""
) -> Suppression:
    """Never mail this address again (idempotent: the first reason is kept)."""
    email = normalise_email(raw_email)
    entry = suppression_of(session, email)
    if entry is None:
        entry = Suppression(email_hash=email_hash(email), email=email, reason=reason, note=note)
        session.add(entry)
        session.flush()
    return entry


def suppressed_hashes(session: Session) -> set[str]:
    """Hashes of every suppressed address (for bulk checks such as imports)."""
    return set(session.scalars(select(Suppression.email_hash)))


def lift_suppression(session: Session, email: str) -> None:
    """Remove the suppressions of a normalised address that a new opt-in outweighs."""
    session.execute(
        delete(Suppression).where(
            Suppression.email_hash == email_hash(email),
            Suppression.reason.in_(list(LIFTED_BY_OPT_IN)),
        )
    )
