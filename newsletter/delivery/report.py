"""An edition's delivery report (counts per state and per skip reason) and its final state.

The final state is the truth about recipients: ``sent`` only if none failed,
``failed`` if every recipient meant to get it failed, ``partially_failed`` in
between. It is decided only once no batch is waiting, sending or unknown.

The report also breaks the edition down the ways it was sent: by **variant** (the
full edition and each topic selection rendered for it, with the readers who got
each) and by **zone group** (the readers delivered at one local instant, with their
zones and the state of their batches), and says whether it is a daily edition or a
weekly roundup. Each recipient is counted in exactly one variant row; readers left
out before a variant was chosen (``no_matching_topic``, ``unsubscribed``...) are in
no variant row, only in the skip reasons.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.content.edition import Cadence
from newsletter.delivery.models import (
    FAILED_STATES,
    OPEN_BATCH_STATES,
    SENT_STATES,
    BatchState,
    Delivery,
    DeliveryState,
    GroupState,
    ProviderGroup,
    SendBatch,
    ZoneGroup,
)
from newsletter.digests.models import Digest, DigestState, DigestVariant, transition
from newsletter.digests.services import get_digest
from newsletter.providers.interfaces import CANCEL_CUTOFF, SETTLE_MARGIN


def _sent(by_state: Mapping[str, int]) -> int:
    return sum(by_state.get(s.value, 0) for s in SENT_STATES)


def _failed(by_state: Mapping[str, int]) -> int:
    return sum(by_state.get(s.value, 0) for s in FAILED_STATES)


@dataclass(frozen=True)
class VariantRow:
    """The readers of one version of the edition: the full edition or one topic variant."""

    key: str | None  # None: the full edition
    topics: tuple[str, ...]  # the edition's topics the selection matched (display)
    subject: str
    briefings: int
    by_state: dict[str, int] = field(default_factory=dict)
    language: str = ""  # the language it is written in
    whole: bool = False  # every briefing in order (the full edition, in another language)

    @property
    def readers(self) -> int:
        """Recipients of this version (skipped ones excluded)."""
        return sum(n for s, n in self.by_state.items() if s != DeliveryState.SKIPPED.value)

    @property
    def sent(self) -> int:
        """Recipients the provider accepted."""
        return _sent(self.by_state)

    @property
    def failed(self) -> int:
        """Recipients whose message was refused for good."""
        return _failed(self.by_state)

    @property
    def skipped(self) -> int:
        """Readers given this version in the ledger but left out (normally none)."""
        return self.by_state.get(DeliveryState.SKIPPED.value, 0)

    @property
    def label(self) -> str:
        """How editors name it: "Full edition", or "Climate, Energy" (its key if no topics)."""
        if self.key is None or self.whole:
            return "Full edition"
        return ", ".join(self.topics) or f"briefings {self.key}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "key": self.key,
            "language": self.language,
            "topics": list(self.topics),
            "subject": self.subject,
            "briefings": self.briefings,
            "readers": self.readers,
            "sent": self.sent,
            "failed": self.failed,
            "skipped": self.skipped,
            "by_state": self.by_state,
        }


@dataclass(frozen=True)
class ZoneGroupRow:
    """The readers of one delivery instant: their zones, and their batches' and copies' states."""

    deliver_at: datetime
    zones: tuple[str, ...]
    readers: int
    batches: dict[str, int] = field(default_factory=dict)
    by_state: dict[str, int] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        """Readers of the group the provider accepted."""
        return _sent(self.by_state)

    @property
    def failed(self) -> int:
        """Readers of the group whose message was refused for good."""
        return _failed(self.by_state)

    @property
    def state(self) -> str:
        """Where the group stands: waiting (nothing claimed yet), scheduled (held by the
        provider until its instant), sending, or its final state once no batch is open."""
        open_states = {s.value for s in OPEN_BATCH_STATES}
        still_open = {s for s, n in self.batches.items() if n and s in open_states}
        if still_open:
            if still_open == {BatchState.PLANNED.value} and not self.sent:
                return "waiting"
            if still_open == {BatchState.SCHEDULED.value}:
                return "scheduled"
            return "sending"
        if not self.batches:
            return "waiting"
        return final_state(self.sent, self.failed).value

    def local_times(self) -> list[tuple[str, datetime]]:
        """Each zone of the group with the group's instant on its own wall clock."""
        out = []
        for name in self.zones:
            try:
                out.append((name, self.deliver_at.astimezone(ZoneInfo(name))))
            except (ValueError, KeyError):  # a zone this machine does not know: show UTC
                out.append((name, self.deliver_at))
        return out

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "deliver_at": self.deliver_at.isoformat(),
            "zones": list(self.zones),
            "local_times": {name: when.isoformat() for name, when in self.local_times()},
            "readers": self.readers,
            "state": self.state,
            "sent": self.sent,
            "failed": self.failed,
            "batches": self.batches,
            "by_state": self.by_state,
        }


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
    # "daily" or "weekly" (a roundup), and the breakdowns by version and delivery instant.
    cadence: str = "daily"
    # The named slot of a daily edition ("morning", "evening"); "" the main schedule.
    slot: str = ""
    variants: tuple[VariantRow, ...] = ()
    zone_groups: tuple[ZoneGroupRow, ...] = ()
    # Readers added after the edition went out (same-day catch-up), and of them sent.
    late: int = 0
    late_sent: int = 0

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
    def by_language(self) -> dict[str, dict[str, int]]:
        """Readers, sent and failed per language the edition went out in (its variants
        summed), the default first."""
        counts: dict[str, dict[str, int]] = {}
        for row in self.variants:
            found = counts.setdefault(row.language, {"readers": 0, "sent": 0, "failed": 0})
            found["readers"] += row.readers
            found["sent"] += row.sent
            found["failed"] += row.failed
        return counts

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
            "slot": self.slot,
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
            "cadence": self.cadence,
            "variants": [row.as_dict() for row in self.variants],
            "by_language": self.by_language,
            "zone_groups": [row.as_dict() for row in self.zone_groups],
            "late": self.late,
            "late_sent": self.late_sent,
        }


def delivery_report(session: Session, digest_id: int) -> DeliveryReport:
    """Count an edition's deliveries by state and skip reason, its batches, opens and clicks."""
    digest = get_digest(session, digest_id)
    by_state: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    by_variant: dict[int | None, dict[str, int]] = {}
    rows = session.execute(
        select(Delivery.variant_id, Delivery.state, Delivery.skip_reason, func.count())
        .where(Delivery.digest_id == digest_id)
        .group_by(Delivery.variant_id, Delivery.state, Delivery.skip_reason)
    ).all()
    for variant_id, state, reason, count in rows:
        by_state[state.value] = by_state.get(state.value, 0) + count
        if reason is not None:
            by_reason[reason.value] = by_reason.get(reason.value, 0) + count
        # Readers left out before a version was chosen belong to no version.
        if variant_id is not None or state is not DeliveryState.SKIPPED:
            counts = by_variant.setdefault(variant_id, {})
            counts[state.value] = counts.get(state.value, 0) + count
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
    late, late_sent = session.execute(
        select(func.count(), func.count().filter(Delivery.state.in_(list(SENT_STATES)))).where(
            Delivery.digest_id == digest_id, Delivery.late.is_(True)
        )
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
        slot=digest.slot if digest.cadence is Cadence.DAILY else "",
        state=digest.state.value,
        by_state=dict(sorted(by_state.items())),
        by_reason=dict(sorted(by_reason.items())),
        batches=dict(sorted(batches.items())),
        opened=opened,
        clicked=clicked,
        deliver_at=deliver_at,
        cancelled_ids=cancelled,
        uncancellable=uncancellable,
        cadence=digest.cadence.value,
        variants=variant_rows(session, digest, by_variant),
        zone_groups=zone_group_rows(session, digest_id),
        late=late,
        late_sent=late_sent,
    )


def _ordered(counts: Mapping[str, int]) -> dict[str, int]:
    """State counts in the state machine's order (queued ... skipped)."""
    return {s.value: counts[s.value] for s in DeliveryState if counts.get(s.value)}


def variant_rows(
    session: Session, digest: Digest, by_variant: Mapping[int | None, Mapping[str, int]]
) -> tuple[VariantRow, ...]:
    """The full edition (when anyone got it, or there is no variant) and every rendered
    variant, with their readers' states; variants by readers, most first."""
    variants = session.scalars(
        select(DigestVariant).where(DigestVariant.digest_id == digest.id)
    ).all()
    default = digest.publication.language
    whole = sorted(item.position for item in digest.items)
    rows = [
        VariantRow(
            key=variant.key,
            topics=tuple(variant.topics),
            subject=variant.subject,
            briefings=len(variant.positions),
            by_state=_ordered(by_variant.get(variant.id, {})),
            language=variant.language or default,
            whole=list(variant.positions) == whole,
        )
        for variant in variants
    ]
    rows.sort(key=lambda row: (row.language != default, -row.readers, row.key or ""))
    full = by_variant.get(None, {})
    if full or not rows:
        whole_row = VariantRow(
            key=None,
            topics=(),
            subject=digest.subject or "",
            briefings=len(digest.items),
            by_state=_ordered(full),
            language=default,
        )
        rows.insert(0, whole_row)
    return tuple(rows)


def _nested(rows: Iterable[Any]) -> dict[datetime, dict[str, int]]:
    out: dict[datetime, dict[str, int]] = {}
    for instant, state, count in rows:
        out.setdefault(instant, {})[state.value] = count
    return out


def zone_group_rows(session: Session, digest_id: int) -> tuple[ZoneGroupRow, ...]:
    """Each zone group of the edition, earliest first, with its batches' and readers' states."""
    groups = session.scalars(
        select(ZoneGroup).where(ZoneGroup.digest_id == digest_id).order_by(ZoneGroup.deliver_at)
    ).all()
    if not groups:
        return ()
    batches = _nested(
        session.execute(
            select(SendBatch.deliver_at, SendBatch.state, func.count())
            .where(SendBatch.digest_id == digest_id, SendBatch.deliver_at.is_not(None))
            .group_by(SendBatch.deliver_at, SendBatch.state)
        )
    )
    readers = _nested(
        session.execute(
            select(SendBatch.deliver_at, Delivery.state, func.count())
            .join(SendBatch, SendBatch.id == Delivery.batch_id)
            .where(Delivery.digest_id == digest_id, SendBatch.deliver_at.is_not(None))
            .group_by(SendBatch.deliver_at, Delivery.state)
        )
    )
    return tuple(
        ZoneGroupRow(
            deliver_at=group.deliver_at,
            zones=tuple(group.zones),
            readers=group.readers,
            batches=dict(sorted(batches.get(group.deliver_at, {}).items())),
            by_state=_ordered(readers.get(group.deliver_at, {})),
        )
        for group in groups
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
