"""Subscriber tables: subscribers, mailing lists, subscriptions, consent, suppression.

A subscription's ``state`` moves only along ``TRANSITIONS``; ``check_transition``
raises ``TransitionError`` for anything else. Every transition a person or an import
causes leaves a ``Consent`` row (when, how, from which address and browser), which
is what a regulator asks to see.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.content.edition import Cadence
from newsletter.db import Base, UTCDateTime, enum_column, utcnow
from newsletter.errors import TransitionError
from newsletter.publications.models import Publication
from subscribers.states import ConsentSource as ConsentSource
from subscribers.states import SubscriptionState as SubscriptionState
from subscribers.states import SuppressionReason as SuppressionReason

S = SubscriptionState
TRANSITIONS: dict[SubscriptionState, frozenset[SubscriptionState]] = {
    S.PENDING: frozenset({S.CONFIRMED, S.UNSUBSCRIBED, S.EXPIRED}),
    S.CONFIRMED: frozenset({S.UNSUBSCRIBED}),
    # Coming back always needs a fresh opt-in: pending (double) or confirmed (single).
    S.UNSUBSCRIBED: frozenset({S.PENDING, S.CONFIRMED}),
    S.EXPIRED: frozenset({S.PENDING, S.CONFIRMED}),
}


def check_transition(current: SubscriptionState, target: SubscriptionState) -> None:
    """Raise ``TransitionError`` unless ``current`` may move to ``target``."""
    if target not in TRANSITIONS[current]:
        raise TransitionError(f"a {current.value} subscription cannot become {target.value}")


class Subscriber(Base):
    """A person, identified by a normalised email address."""

    __tablename__ = "subscribers"
    # AUTOINCREMENT: ids are never reused on SQLite, so an old token cannot name a
    # newer subscriber after an erasure.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # A language tag the reader chose; "": none (each publication's default language).
    locale: Mapped[str] = mapped_column(String(16), default="")
    # An IANA zone; None: the publication's own (see ``Publication.local_delivery``).
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", order_by="Subscription.id", cascade="all, delete-orphan"
    )


class MailingList(Base):
    """A list of a publication; the default list has the publication's slug."""

    __tablename__ = "mailing_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), index=True
    )
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    publication: Mapped[Publication] = relationship()


class Subscription(Base):
    """One subscriber on one list, with its state, chosen topics (empty = all) and pause."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "list_id"),
        Index("ix_subscriptions_list_id_state", "list_id", "state"),
        # The tick's look for recent confirmations (owed welcomes, late readers).
        Index("ix_subscriptions_confirmed_at", "confirmed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    state: Mapped[SubscriptionState] = mapped_column(
        enum_column(SubscriptionState, "subscription_state"), default=SubscriptionState.PENDING
    )
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    cadence: Mapped[Cadence] = mapped_column(enum_column(Cadence, "cadence"), default=Cadence.DAILY)
    # The weekday ("mon" ... "sun") of a weekly reader's roundup, one the publication offers.
    weekly_day: Mapped[str | None] = mapped_column(String(3), default=None)
    # Kinds of mail: the digest (unless the reader left it) and alerts (only when opted
    # in; ``alert_topics`` empty means alerts on every topic). Leaving one keeps the other.
    digests: Mapped[bool] = mapped_column(Boolean, default=True)
    alerts: Mapped[bool] = mapped_column(Boolean, default=False)
    alert_topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    # When the welcome mail for the current confirmation was sent (once per confirmation).
    welcomed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    mailing_list: Mapped[MailingList] = relationship()


class Consent(Base):
    """Evidence of a consent or its withdrawal: when, how, and for web sign-ups from where."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String(32), default=None)
    to_state: Mapped[str] = mapped_column(String(32))
    source: Mapped[ConsentSource] = mapped_column(enum_column(ConsentSource, "consent_source"))
    text: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(500), default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Suppression(Base):
    """An address never to be mailed; after an erasure only its hash remains."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    reason: Mapped[SuppressionReason] = mapped_column(
        enum_column(SuppressionReason, "suppression_reason")
    )
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SignupAttempt(Base):
    """One sign-up request, kept for an hour or so to enforce rate limits across processes."""

    __tablename__ = "signup_attempts"
    __table_args__ = (Index("ix_signup_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80))  # "ip:<hash>" or "email:<hash>"
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
