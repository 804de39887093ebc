"""Digest tables: one edition per (publication, date) and the briefings frozen into it."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.content.edition import Cadence
from newsletter.db import Base, UTCDateTime, enum_column, utcnow
from newsletter.errors import TransitionError
from newsletter.publications.models import Publication


class DigestState(StrEnum):
    """Where an edition is in its life, from assembly to delivery."""

    ASSEMBLED = "assembled"
    SKIPPED = "skipped"
    RENDERED = "rendered"
    PUBLISHED = "published"
    SENDING = "sending"
    SENT = "sent"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"
    MISSED = "missed"
    CANCELLED = "cancelled"


_S = DigestState

# Every move the state machine allows; anything else raises TransitionError.
# Failed or partly failed sends may go back to SENDING to retry the recipients
# that did not get the edition, and a sent one for a late reader (same-day
# catch-up); SKIPPED, MISSED and CANCELLED are final.
TRANSITIONS: dict[DigestState, frozenset[DigestState]] = {
    _S.ASSEMBLED: frozenset({_S.RENDERED, _S.MISSED, _S.CANCELLED}),
    _S.SKIPPED: frozenset(),
    _S.RENDERED: frozenset({_S.PUBLISHED, _S.SENDING, _S.MISSED, _S.CANCELLED}),
    _S.PUBLISHED: frozenset({_S.SENDING, _S.MISSED, _S.CANCELLED}),
    _S.SENDING: frozenset({_S.SENT, _S.PARTIALLY_FAILED, _S.FAILED}),
    # A reader confirming after it went out, while it is fresh, reopens it for their
    # late copy (``newsletter.delivery.catchup``); it settles again once that is sent.
    _S.SENT: frozenset({_S.SENDING}),
    _S.PARTIALLY_FAILED: frozenset({_S.SENDING}),
    _S.FAILED: frozenset({_S.SENDING}),
    _S.MISSED: frozenset(),
    _S.CANCELLED: frozenset(),
}

# Entering one of these makes the edition public (web archive and feeds).
PUBLIC_ON_ENTRY = frozenset({_S.PUBLISHED, _S.SENDING})

# States in which the edition has been rendered (and so can be shown on the web).
RENDERED_STATES = frozenset(
    {_S.RENDERED, _S.PUBLISHED, _S.SENDING, _S.SENT, _S.PARTIALLY_FAILED, _S.FAILED}
)


class Digest(Base):
    """A publication's edition for one date: a frozen snapshot of approved briefings.

    Unique per (publication, edition date), so assembling twice finds the same row.
    The rendered fields are filled once by the render service and never change.
    """

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("publication_id", "edition_date", "cadence", "slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    edition_date: Mapped[date] = mapped_column(Date())
    # A daily edition, or a weekly roundup (its own snapshot, page and feed entry).
    cadence: Mapped[Cadence] = mapped_column(enum_column(Cadence, "cadence"), default=Cadence.DAILY)
    # Empty for the main schedule; a named slot's name ("morning", "evening").
    slot: Mapped[str] = mapped_column(String(40), default="")
    state: Mapped[DigestState] = mapped_column(
        enum_column(DigestState, "digest_state"), default=DigestState.ASSEMBLED, index=True
    )
    cutoff_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assembled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    skip_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    rolled_over: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str | None] = mapped_column(String(500), default=None)
    preheader: Mapped[str | None] = mapped_column(String(500), default=None)
    html: Mapped[str | None] = mapped_column(Text, default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    web_html: Mapped[str | None] = mapped_column(Text, default=None)
    html_bytes: Mapped[int | None] = mapped_column(Integer, default=None)
    rendered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Set once, when the edition first becomes public (published on the web or sending):
    # feeds show only editions with it, dated by it, so their dates never move.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    publication: Mapped[Publication] = relationship()
    items: Mapped[list[DigestItem]] = relationship(
        back_populates="digest", order_by="DigestItem.position", cascade="all"
    )

    def label(self) -> str:
        """A short human name, e.g. ``digest 3 (morning 2026-11-25)``, or with a slot
        ``digest 4 (morning 2026-11-25 evening)``."""
        slot = f" {self.slot}" if self.slot and self.cadence is Cadence.DAILY else ""
        return f"digest {self.id} ({self.publication.slug} {self.edition_date.isoformat()}{slot})"


class DigestItem(Base):
    """One briefing revision frozen into a digest, with a copy of its content.

    ``publication_id`` and ``cadence`` repeat the digest's so that the database itself
    refuses to put one briefing into two daily editions (or two weekly roundups) of
    the same publication; a roundup takes briefings the daily editions carried.
    """

    __tablename__ = "digest_items"
    __table_args__ = (
        UniqueConstraint("digest_id", "briefing_id"),
        UniqueConstraint("digest_id", "position"),
        UniqueConstraint("publication_id", "cadence", "briefing_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    cadence: Mapped[Cadence] = mapped_column(enum_column(Cadence, "cadence"), default=Cadence.DAILY)
    briefing_id: Mapped[int] = mapped_column(ForeignKey("briefings.id"))
    revision: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime())
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)

    digest: Mapped[Digest] = relationship(back_populates="items")

    def content_topic_names(self) -> list[str]:
        """The topic names of the frozen content, without validating all of it."""
        return [str(topic.get("name", "")) for topic in self.content.get("topics", [])]


class DigestVariant(Base):
    """One (topic selection, language) version of an edition's email, rendered once for
    its readers.

    ``key`` names the edition's briefings the variant carries, by position, in its
    order (``"3.1"``), and its ``language`` when that is not the publication's default
    (``"3.1-de"``): readers whose topics select the same briefings and who get the same
    language share it, whatever else they chose. The full edition in the default
    language has no variant row; in another language it is one (``"1.2.3-de"``). The
    rendered fields are written once, like the digest's, and never change.
    """

    __tablename__ = "digest_variants"
    __table_args__ = (UniqueConstraint("digest_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(400))
    positions: Mapped[list[int]] = mapped_column(JSON)
    # The edition's topics this selection matched (display only: "Climate, Energy").
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The language it is written in; "" (rows from before languages): the default.
    language: Mapped[str] = mapped_column(String(16), default="")
    subject: Mapped[str] = mapped_column(String(500))
    preheader: Mapped[str] = mapped_column(String(500), default="")
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html_bytes: Mapped[int] = mapped_column(Integer, default=0)
    rendered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DigestCorrection(Base):
    """A correction or withdrawal listed in an edition's "Corrections" block.

    Unique per (publication, correction): each change to a briefing is listed once
    in each publication that carried the briefing, in the first edition assembled
    after it (see ``newsletter.digests.corrections_block``).
    """

    __tablename__ = "digest_corrections"
    __table_args__ = (UniqueConstraint("publication_id", "correction_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"), index=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    # A briefing_corrections id. No foreign key: see migration digests_0003 (corrections
    # are never deleted on their own; a deleted briefing's rows just stop joining).
    correction_id: Mapped[int] = mapped_column(Integer)


def can_transition(current: DigestState, to: DigestState) -> bool:
    """Whether the state machine allows ``current`` → ``to``."""
    return to in TRANSITIONS[current]


def transition(digest: Digest, to: DigestState) -> None:
    """Move a digest to another state, or raise ``TransitionError`` naming both states."""
    if not can_transition(digest.state, to):
        raise TransitionError(f"{digest.label()} cannot go from {digest.state.value} to {to.value}")
    digest.state = to
    if to in PUBLIC_ON_ENTRY and digest.published_at is None:
        digest.published_at = utcnow()
