"""Cancel an edition: before sending, its digest too; during sending, every unsent batch.

The cancel takes the edition's row lock; a batch is claimed only under a share lock
on it (``batches.take_batch``), so every batch is either stopped here or counted as
handed over to the provider. Requests sent ahead are recalled through the provider
while its cutoff allows (``newsletter.delivery.scheduling``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.db import utcnow
from newsletter.delivery import scheduling
from newsletter.delivery.report import finalise
from newsletter.digests.models import Digest, DigestState
from newsletter.digests.models import can_transition as digest_can_transition
from newsletter.digests.models import transition as digest_transition
from newsletter.errors import NotFoundError, TransitionError
from newsletter.pipeline.batches import cancel_sending
from newsletter.schedules.models import EditionState, ScheduledEdition, transition


@dataclass(frozen=True)
class CancelResult:
    """A cancelled edition, how many unsent batches of it were stopped, how many could not be.

    ``withdrawing`` counts requests already sent ahead that the provider is asked to
    cancel (confirmed on the next tick); ``unstoppable`` those past the provider's
    cutoff, which will reach their readers all the same.
    """

    edition: ScheduledEdition
    stopped_batches: int = 0
    withdrawing: int = 0
    unstoppable: int = 0


def cancel(session: Session, edition_id: int, *, now: datetime | None = None) -> CancelResult:
    """Cancel an edition: before sending, its digest too; during sending, the unsent batches."""
    now = now or utcnow()
    edition = session.get(ScheduledEdition, edition_id, with_for_update=True)
    if edition is None:
        raise NotFoundError(f"unknown edition {edition_id}")
    digest = (
        session.get(Digest, edition.digest_id, with_for_update=True) if edition.digest_id else None
    )
    if (
        digest is not None
        and digest.state is not DigestState.SENDING
        and not digest_can_transition(digest.state, DigestState.CANCELLED)
    ):
        raise TransitionError(
            f"{edition.label()} cannot be cancelled: its digest is already {digest.state.value}"
        )
    transition(edition, EditionState.CANCELLED, "cancelled by an editor")
    stopped = withdrawing = unstoppable = 0
    if digest is not None and digest.state is DigestState.SENDING:
        # Unsent batches fail as cancelled. Requests sent ahead are recalled through
        # the provider while its cutoff allows (the tick asks it); requests already
        # released, or past the cutoff, cannot be. The edition ends partially_failed
        # (or failed) once everything is settled.
        stopped = cancel_sending(session, digest.id, now=now)
        unstoppable = scheduling.withdraw(session, digest.id, now=now)
        withdrawing = scheduling.withdrawing(session, digest.id)
        finalise(session, digest.id)
    elif digest is not None:
        digest_transition(digest, DigestState.CANCELLED)
    session.flush()
    return CancelResult(edition, stopped, withdrawing, unstoppable)
