"""Briefing tables: the briefing, its revisions and its audit trail."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.briefings.states import BriefingState as BriefingState
from newsletter.content.briefing import BriefingContent
from newsletter.db import Base, UTCDateTime, enum_column, utcnow


class Briefing(Base):
    """A briefing, identified by its slug, with a revision history.

    ``state`` describes the latest revision. ``approved_revision`` is the revision
    that editions use: it stays set while a newer revision awaits approval, and is
    cleared only by withdrawing.
    """

    __tablename__ = "briefings"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    state: Mapped[BriefingState] = mapped_column(
        enum_column(BriefingState, "briefing_state"), default=BriefingState.DRAFT, index=True
    )
    latest_revision: Mapped[int] = mapped_column(Integer, default=1)
    approved_revision: Mapped[int | None] = mapped_column(Integer, default=None)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    approved_by: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # A takedown (a legal request): the text leaves everything served or exported.
    taken_down_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    taken_down_by: Mapped[str | None] = mapped_column(String(120), default=None)
    takedown_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # When its ``Expires:`` time took it out of feeds and pages after publication.
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    revisions: Mapped[list[BriefingRevision]] = relationship(
        back_populates="briefing", order_by="BriefingRevision.number", cascade="all"
    )
    events: Mapped[list[BriefingEvent]] = relationship(
        back_populates="briefing", order_by="BriefingEvent.id", cascade="all"
    )


class BriefingRevision(Base):
    """One immutable version of a briefing's content."""

    __tablename__ = "briefing_revisions"
    __table_args__ = (UniqueConstraint("briefing_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    briefing_id: Mapped[int] = mapped_column(ForeignKey("briefings.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Who confirmed a title the importer derived from the text (approval needs it).
    title_confirmed_by: Mapped[str | None] = mapped_column(String(120), default=None)

    briefing: Mapped[Briefing] = relationship(back_populates="revisions")

    def parsed(self) -> BriefingContent:
        """The stored content as a validated value."""
        return BriefingContent.model_validate(self.content)


class CorrectionKind(StrEnum):
    """What changed a briefing after it was published."""

    CORRECTION = "correction"
    WITHDRAWAL = "withdrawal"
    TAKEDOWN = "takedown"
    EXPIRY = "expiry"


class BriefingCorrection(Base):
    """A public change to a published briefing: a correction with its note, a withdrawal,
    a takedown or an expiry. Pages show correction notes; the next edition lists
    corrections and withdrawals; takedown reasons stay in the back office.
    """

    __tablename__ = "briefing_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    briefing_id: Mapped[int] = mapped_column(
        ForeignKey("briefings.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[CorrectionKind] = mapped_column(enum_column(CorrectionKind, "correction_kind"))
    revision: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    editor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BriefingEvent(Base):
    """An audit-trail entry: who changed a briefing's state, when, and why."""

    __tablename__ = "briefing_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    briefing_id: Mapped[int] = mapped_column(ForeignKey("briefings.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(32), default=None)
    to_state: Mapped[str] = mapped_column(String(32))
    editor: Mapped[str] = mapped_column(String(120))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    briefing: Mapped[Briefing] = relationship(back_populates="events")
