"""Schedule tables: one row per edition the scheduler took, and when each schedule began.

``ScheduledEdition`` is unique per (publication, edition date, cadence, slot): the row
is the claim (a date may have a daily edition and a weekly roundup, and with named
slots one daily edition per slot).
A recurring edition gets its row when a tick starts it (or marks it missed); a
one-off edition gets its row when an editor schedules it, and a tick moves it on.
Two ticks, or two beat processes, cannot both insert (or both move) the same row,
so nothing starts twice. ``EditionState``::

    scheduled ──tick──▶ started ──(assemble, render, publish, send: see the digest)
        │                  └──cancel (before sending)──▶ cancelled
        ├──cancel──▶ cancelled
        └──tick, too late──▶ missed      started ──too late to send──▶ missed
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.content.edition import Cadence
from newsletter.db import Base, UTCDateTime, enum_column, utcnow
from newsletter.errors import TransitionError
from newsletter.publications.models import Publication


class EditionState(StrEnum):
    """Where a scheduled edition stands before its digest takes over."""

    SCHEDULED = "scheduled"
    STARTED = "started"
    CANCELLED = "cancelled"
    MISSED = "missed"


class EditionKind(StrEnum):
    """Why the edition exists: the recurring schedule, a one-off, or ``send-now``."""

    RECURRING = "recurring"
    ONCE = "once"
    NOW = "now"


_E = EditionState
TRANSITIONS: dict[EditionState, frozenset[EditionState]] = {
    _E.SCHEDULED: frozenset({_E.STARTED, _E.CANCELLED, _E.MISSED}),
    _E.STARTED: frozenset({_E.CANCELLED, _E.MISSED}),
    _E.CANCELLED: frozenset(),
    _E.MISSED: frozenset(),
}


class ScheduledEdition(Base):
    """One edition the scheduler knows about; the unique key makes starting it a claim."""

    __tablename__ = "scheduled_editions"
    __table_args__ = (UniqueConstraint("publication_id", "edition_date", "cadence", "slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    edition_date: Mapped[date] = mapped_column(Date())
    cadence: Mapped[Cadence] = mapped_column(enum_column(Cadence, "cadence"), default=Cadence.DAILY)
    # Empty for the main schedule; a named slot's name (see ``ScheduleSlot``).
    slot: Mapped[str] = mapped_column(String(40), default="")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[EditionKind] = mapped_column(enum_column(EditionKind, "edition_kind"))
    state: Mapped[EditionState] = mapped_column(
        enum_column(EditionState, "edition_state"), default=EditionState.SCHEDULED, index=True
    )
    digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("digests.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[str | None] = mapped_column(String(300), default=None)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    publication: Mapped[Publication] = relationship()

    def label(self) -> str:
        """A short human name, e.g. ``edition 4 (morning 2026-12-01)``, for a weekly
        roundup ``edition 5 (morning 2026-12-01 weekly)``, for a slot's edition
        ``edition 6 (morning 2026-12-01 evening)``, for an alert (its key is its
        briefing's id) ``edition 7 (morning 2026-12-01 alert 12)``."""
        weekly = " weekly" if self.cadence is Cadence.WEEKLY else ""
        if self.cadence is Cadence.ALERT:
            weekly = f" alert {self.slot}"
        slot = f" {self.slot}" if self.slot and self.cadence is Cadence.DAILY else ""
        day = self.edition_date.isoformat()
        return f"edition {self.id} ({self.publication.slug} {day}{weekly}{slot})"


class ScheduleSlot(Base):
    """A named slot of a publication's schedule ("morning", "evening").

    Each has its own local ``send_time``, ``weekdays`` ("mon" ... "sun") and cut-off,
    ``cutoff_minutes`` before its send time; its editions carry its name as ``slot``.
    """

    __tablename__ = "schedule_slots"
    __table_args__ = (UniqueConstraint("publication_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    send_time: Mapped[time] = mapped_column(Time())
    weekdays: Mapped[list[str]] = mapped_column(JSON, default=list)
    cutoff_minutes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ScheduleActivity(Base):
    """Since when a publication's recurring schedule counts: editions before are never due.

    Set when the schedule is set or the publication resumed, so changing 07:00 to
    06:00 at noon does not mark this morning's 06:00 edition missed.
    """

    __tablename__ = "schedule_activity"

    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), primary_key=True
    )
    active_since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def can_transition(current: EditionState, to: EditionState) -> bool:
    """Whether a scheduled edition may go from ``current`` to ``to``."""
    return to in TRANSITIONS[current]


def transition(edition: ScheduledEdition, to: EditionState, reason: str | None = None) -> None:
    """Move an edition to another state (recording why), or raise ``TransitionError``."""
    if not can_transition(edition.state, to):
        raise TransitionError(
            f"{edition.label()} cannot go from {edition.state.value} to {to.value}"
        )
    edition.state = to
    if reason is not None:
        edition.reason = reason
