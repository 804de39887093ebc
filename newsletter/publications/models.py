"""The publication table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db import Base, UTCDateTime, enum_column, utcnow


class TopicMode(StrEnum):
    """What a reader who chose topics receives: only those briefings, or those first."""

    ONLY = "only"
    FIRST = "first"


class Publication(Base):
    """A newsletter: its identity, sender, schedule, scope and look.

    ``topics`` empty means every topic. ``weekdays`` holds lower-case three-letter
    day names ("mon" ... "sun"); ``send_time`` is local time in ``timezone``.
    """

    __tablename__ = "publications"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tagline: Mapped[str] = mapped_column(String(300), default="")
    from_name: Mapped[str] = mapped_column(String(200))
    from_email: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str] = mapped_column(String(320), default="")
    base_url: Mapped[str] = mapped_column(String(500))
    postal_address: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    language: Mapped[str] = mapped_column(String(16), default="en")
    # The languages readers may choose among, the default ``language`` always one of them.
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    send_time: Mapped[time] = mapped_column(Time(), default=time(7, 0))
    weekdays: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["mon", "tue", "wed", "thu", "fri"]
    )
    max_briefings: Mapped[int] = mapped_column(Integer, default=10)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    accent_color: Mapped[str] = mapped_column(String(7), default="#1a56db")
    logo_url: Mapped[str] = mapped_column(String(500), default="")
    track_opens: Mapped[bool] = mapped_column(Boolean, default=False)
    track_clicks: Mapped[bool] = mapped_column(Boolean, default=False)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Deliver at ``send_time`` in each reader's own zone (readers without one: ``timezone``).
    local_delivery: Mapped[bool] = mapped_column(Boolean, default=False)
    # Weekdays ("mon" ... "sun") on which weekly readers get a roundup; empty: no weekly.
    weekly_days: Mapped[list[str]] = mapped_column(JSON, default=list)
    weekly_max: Mapped[int] = mapped_column(Integer, default=10)
    topic_mode: Mapped[TopicMode] = mapped_column(
        enum_column(TopicMode, "topic_mode"), default=TopicMode.ONLY
    )
    # Alerts a day before an admin must confirm another.
    alerts_per_day: Mapped[int] = mapped_column(Integer, default=3)
    # SendGrid unsubscribe groups (``asm.group_id``) per kind of mail; None: not used.
    digest_group_id: Mapped[int | None] = mapped_column(Integer, default=None)
    alert_group_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # The welcome mail, editable by admins; empty: the built-in text.
    welcome_subject: Mapped[str] = mapped_column(String(300), default="")
    welcome_body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def offered_languages(self) -> tuple[str, ...]:
        """The languages readers may choose, the default first (just it when none are set)."""
        rest = tuple(tag for tag in self.languages or () if tag != self.language)
        return (self.language, *rest)

    def language_for(self, locale: str) -> str:
        """The language a reader whose ``locale`` this is gets (see :func:`pick_language`)."""
        return pick_language(locale, self.offered_languages())


def pick_language(locale: str, offered: Sequence[str]) -> str:
    """The language of ``offered`` a reader whose locale is ``locale`` gets.

    Their locale if offered, else its base language if offered (``de-AT`` reads ``de``),
    else the default (``offered[0]``); a reader who chose none (``""``) gets the default.
    """
    if locale:
        by_key = {tag.casefold(): tag for tag in offered}
        for candidate in (locale, locale.replace("_", "-").split("-")[0]):
            found = by_key.get(candidate.casefold())
            if found is not None:
                return found
    return offered[0]


class PublicationTopic(Base):
    """A topic's stable slug in one publication, given once and never changed.

    ``name_key`` is the name case-folded with its spaces collapsed, so "Climate" and
    "climate " are one topic; ``name`` keeps the first spelling seen.
    """

    __tablename__ = "publication_topics"
    __table_args__ = (
        UniqueConstraint("publication_id", "slug"),
        UniqueConstraint("publication_id", "name_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    name_key: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(90))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
