"""An edition's delivery report (counts per state and per skip reason) and its final state.

The final state is the truth about recipients: ``sent`` only if none failed,
``failed`` if every recipient meant to get it failed, ``partially_failed`` in
between. It is decided only once no batch is waiting, sending or unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.delivery.models import (
    FAILED_STATES,
    OPEN_BATCH_STATES,
    SENT_STATES,
    Delivery,
    DeliveryState,
    GroupState,
    ProviderGroup,
    SendBatch,
)
from newsletter.digests.models import DigestState, transition
from newsletter.digests.services import get_digest
from newsletter.providers.interfaces import CANCEL_CUTOFF, SETTLE_MARGIN


@dataclass(frozen=True)
class DeliveryReport:
    """Everything an editor asks about one edition's sending."""

    digest_id: int
    publication: str
    edition_date: date
    state: str
    by_state: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    opened: int = 0
    clicked: int = 0
    # Sent ahead for this instant (SendGrid's send_at); None for an immediate send.
    deliver_at: datetime | None = None
    # Provider batch ids cancelled after a lost answer, their readers sent again.
    cancelled_ids: int = 0
    # Requests sent ahead too close to the instant to be cancelled (events settle those).
    uncancellable: int = 0

    @property
    def guarantee(self) -> str:
        """How a lost provider answer is settled for this edition (``docs/delivery.md``)."""
        if self.deliver_at is None:
            return "immediate: a lost answer is settled by the provider's events"
        if self.uncancellable:
            return (
                f"scheduled, but {self.uncancellable} request(s) went out too close to the "
                "instant to be cancelled: a lost answer there is settled by events"
            )
        return "scheduled: a lost answer is cancelled at the provider and sent again"

    @property
    def recipients(self) -> int:
        """Subscribers in the ledger that were meant to get the edition (skips excluded)."""
        return sum(n for s, n in self.by_state.items() if s != DeliveryState.SKIPPED.value)

    @property
    def sent(self) -> int:
        """Recipients the provider accepted (whatever happened to them afterwards)."""
        return sum(self.by_state.get(s.value, 0) for s in SENT_STATES)

    @property
    def failed(self) -> int:
        """Recipients whose message was refused for good."""
        return sum(self.by_state.get(s.value, 0) for s in FAILED_STATES)

    @property
    def skipped(self) -> int:
        """Subscribers left out, for a recorded reason."""
        return self.by_state.get(DeliveryState.SKIPPED.value, 0)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for ``digest report --json``)."""
        return {
            "digest_id": self.digest_id,
            "publication": self.publication,
            "edition_date": self.edition_date.isoformat(),
            "state": self.state,
            "recipients": self.recipients,
            "sent": self.sent,
            "failed": self.failed,
            "skipped": self.skipped,
            "by_state": self.by_state,
            "by_reason": self.by_reason,
            "batches": self.batches,
            "opened": self.opened,
            "clicked": self.clicked,
            "deliver_at": self.deliver_at.isoformat() if self.deliver_at else None,
            "guarantee": self.guarantee,
            "cancelled_batch_ids": self.cancelled_ids,
            "uncancellable_requests": self.uncancellable,
        }


def delivery_report(session: Session, digest_id: int) -> DeliveryReport:
    """Count an edition's deliveries by state and skip reason, its batches, opens and clicks."""
    digest = get_digest(session, digest_id)
    by_state: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    rows = session.execute(
        select(Delivery.state, Delivery.skip_reason, func.count())
        .where(Delivery.digest_id == digest_id)
        .group_by(Delivery.state, Delivery.skip_reason)
    ).all()
    for state, reason, count in rows:
        by_state[state.value] = by_state.get(state.value, 0) + count
        if reason is not None:
            by_reason[reason.value] = by_reason.get(reason.value, 0) + count
    batches = {
        state.value: count
        for state, count in session.execute(
            select(SendBatch.state, func.count())
            .where(SendBatch.digest_id == digest_id)
            .group_by(SendBatch.state)
        ).all()
    }
    opened, clicked = session.execute(
        select(
            func.count().filter(Delivery.opens > 0), func.count().filter(Delivery.clicks > 0)
        ).where(Delivery.digest_id == digest_id)
    ).one()
    deliver_at, cancelled = session.execute(
        select(
            func.max(ProviderGroup.send_at),
            func.count().filter(ProviderGroup.state == GroupState.CANCELLED),
        ).where(ProviderGroup.digest_id == digest_id)
    ).one()
    uncancellable = 0
    if deliver_at is not None:
        uncancellable = (
            session.scalar(
                select(func.count()).where(
                    ProviderGroup.digest_id == digest_id,
                    ProviderGroup.created_at >= deliver_at - CANCEL_CUTOFF - SETTLE_MARGIN,
                )
            )
            or 0
        )
    return DeliveryReport(
        digest_id=digest.id,
        publication=digest.publication.slug,
        edition_date=digest.edition_date,
        state=digest.state.value,
        by_state=dict(sorted(by_state.items())),
        by_reason=dict(sorted(by_reason.items())),
        batches=dict(sorted(batches.items())),
        opened=opened,
        clicked=clicked,
        deliver_at=deliver_at,
        cancelled_ids=cancelled,
        uncancellable=uncancellable,
    )


def final_state(sent: int, failed: int) -> DigestState:
    """``sent`` if nothing failed, ``failed`` if nothing went out, else ``partially_failed``."""
    if failed == 0:
        return DigestState.SENT
    return DigestState.FAILED if sent == 0 else DigestState.PARTIALLY_FAILED


def finalise(session: Session, digest_id: int) -> DigestState | None:
    """Give a sending edition its final state once no batch is open; None while one is."""
    digest = get_digest(session, digest_id, lock=True)
    if digest.state is not DigestState.SENDING:
        return None
    still_open = session.scalar(
        select(func.count())
        .select_from(SendBatch)
        .where(SendBatch.digest_id == digest_id, SendBatch.state.in_(list(OPEN_BATCH_STATES)))
    )
    if still_open:
        return None
    rows = session.execute(
        select(Delivery.state, func.count())
        .where(Delivery.digest_id == digest_id)
        .group_by(Delivery.state)
    ).all()
    counts: dict[DeliveryState, int] = dict(rows)
    sent = sum(counts.get(state, 0) for state in SENT_STATES)
    failed = sum(counts.get(state, 0) for state in FAILED_STATES)
    state = final_state(sent, failed)
    transition(digest, state)
    session.flush()
    return state
