"""Subscriber services: lists, lookups, sign-up, confirmation, unsubscription.

Every function takes a ``Session`` and plain values; the caller commits. State changes
go through ``transitions.transition``, which checks the table in ``models`` and writes
the consent record; confirmation emails leave only after that commit
(``send_confirmations``). Web sign-ups answer the same way whether or not an address is
already known, so the form cannot be used to find out who subscribes. Suppression lives
in ``suppression``, the preferences page's changes in ``preferences``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.content.edition import MailKind
from newsletter.db import utcnow
from newsletter.errors import ConflictError, NotFoundError, TransitionError
from newsletter.publications.models import Publication
from subscribers.addresses import normalise_email
from subscribers.aftercommit import after_commit
from subscribers.choices import Reading, clean_reading, offered_days, offered_topics
from subscribers.models import (
    ConsentSource,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionState,
)
from subscribers.profile import clean_alert_topics, clean_profile, clean_topics
from subscribers.suppression import LIFTED_BY_OPT_IN, lift_suppression, suppression_of
from subscribers.tokens import TokenSubject
from subscribers.transitions import Evidence, record_choice, start_subscription, transition
from subscribers.welcome import Welcomer, welcome_after_commit

S = SubscriptionState
PERSONAL_SOURCES = frozenset({ConsentSource.WEB, ConsentSource.API, ConsentSource.EMAIL})
LOAD_CHUNK = 5000  # ids per IN (...) when reading subscriptions back


class Confirmer(Protocol):
    """Sends the double opt-in email for pending subscriptions."""

    def send(self, subscriptions: Sequence[Subscription]) -> None:
        """Email each subscription's confirmation link."""
        ...


@dataclass(frozen=True)
class SignupRequest:
    """What someone asked for on the form, the API or the command line."""

    email: str
    list_slug: str
    evidence: Evidence
    name: str = ""
    locale: str = ""
    timezone: str = ""
    topics: tuple[str, ...] = ()
    cadence: str = ""  # "daily" (blank) or "weekly"
    weekly_day: str = ""  # mon ... sun, one of the publication's weekly days
    skip_opt_in: bool = False  # CLI with recorded prior consent only
    alerts: bool = False  # also opt into alerts (the digest is always part of a sign-up)
    alert_topics: tuple[str, ...] = ()  # alerts on these topics only (empty: every topic)


class SignupOutcome(StrEnum):
    """What a sign-up did (kept internal: the public answer never says)."""

    CONFIRMATION_SENT = "confirmation_sent"
    CONFIRMATION_THROTTLED = "confirmation_throttled"
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class SignupResult:
    """The outcome and, unless suppressed, the subscription."""

    outcome: SignupOutcome
    subscription: Subscription | None = None


@dataclass(frozen=True)
class OptInPolicy:
    """Timings of the double opt-in."""

    resend_interval: timedelta = timedelta(hours=1)
    pending_expiry: timedelta = timedelta(days=7)
    # A welcome not sent at confirmation (the process died) is sent this long after.
    welcome_window: timedelta = timedelta(hours=24)


# -- lists --------------------------------------------------------------------------


def ensure_default_list(session: Session, publication: Publication) -> MailingList:
    """The publication's default list (slug = publication slug), created on first use."""
    found = session.scalar(select(MailingList).where(MailingList.slug == publication.slug))
    if found is not None:
        return found
    mailing_list = MailingList(
        slug=publication.slug, name=publication.name, publication=publication
    )
    session.add(mailing_list)
    session.flush()
    return mailing_list


def create_list(
    session: Session, publication: Publication, slug: str, name: str, *, double_opt_in: bool = True
) -> MailingList:
    """An extra list of ``publication``; slugs are unique across publications."""
    if session.scalar(select(MailingList.id).where(MailingList.slug == slug)) is not None:
        raise ConflictError(f"list: {slug!r} already exists")
    mailing_list = MailingList(
        slug=slug, name=name, publication=publication, double_opt_in=double_opt_in
    )
    session.add(mailing_list)
    session.flush()
    return mailing_list


def get_list(session: Session, slug: str) -> MailingList:
    """The list named ``slug``; a publication's default list is created lazily."""
    found = session.scalar(select(MailingList).where(MailingList.slug == slug))
    if found is not None:
        return found
    publication = session.scalar(select(Publication).where(Publication.slug == slug))
    if publication is None:
        raise NotFoundError(f"list: no mailing list or publication is called {slug[:64]!r}")
    return ensure_default_list(session, publication)


def lists_of_publication(session: Session, publication_id: int) -> list[MailingList]:
    """Every list of one publication, by slug."""
    query = select(MailingList).where(MailingList.publication_id == publication_id)
    return list(session.scalars(query.order_by(MailingList.slug)))


# -- lookups ------------------------------------------------------------------------


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this (already normalised) address, if any."""
    return session.scalar(select(Subscriber).where(Subscriber.email == email))


def get_subscriber(session: Session, raw_email: str) -> Subscriber:
    """The subscriber with this address, or ``NotFoundError``."""
    email = normalise_email(raw_email)
    subscriber = find_subscriber(session, email)
    if subscriber is None:
        raise NotFoundError(f"email: no subscriber {email!r}")
    return subscriber


def subscription_for(session: Session, subject: TokenSubject) -> Subscription:
    """The subscription a token names, or ``NotFoundError`` (erased, or never existed)."""
    subscription = session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == subject.subscriber_id,
            Subscription.list_id == subject.list_id,
        )
    )
    if subscription is None:
        raise NotFoundError("token: this link no longer matches a subscription")
    return subscription


# -- sign-up, confirmation, unsubscription ------------------------------------------


def sign_up(
    session: Session,
    request: SignupRequest,
    *,
    confirmer: Confirmer,
    policy: OptInPolicy = OptInPolicy(),
    welcomer: Welcomer | None = None,
    now: datetime | None = None,
) -> SignupResult:
    """Subscribe an address to a list: double opt-in by default, single if the list says so.

    A sign-up confirmed at once gets its welcome after the commit (``welcomer``;
    without one, the tick sends it), unless it came from an import.
    """
    now = now or utcnow()
    email = normalise_email(request.email)
    profile = clean_profile(request.name, request.locale, request.timezone)
    mailing_list = get_list(session, request.list_slug)
    publication = mailing_list.publication
    topics = clean_topics(request.topics, offered_topics(session, publication))
    reading = clean_reading(request.cadence, request.weekly_day, offered_days(publication))
    alert_topics = clean_alert_topics(request.alert_topics, offered_topics(session, publication))

    suppression = suppression_of(session, email)
    if suppression is not None and not (
        request.evidence.source in PERSONAL_SOURCES and suppression.reason in LIFTED_BY_OPT_IN
    ):
        return SignupResult(SignupOutcome.SUPPRESSED)

    subscriber = find_subscriber(session, email)
    if subscriber is None:
        subscriber = Subscriber(
            email=email, name=profile.name, locale=profile.locale, timezone=profile.timezone
        )
        session.add(subscriber)
        session.flush()
    subscription = session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber.id,
            Subscription.list_id == mailing_list.id,
        )
    )
    single = request.skip_opt_in or not mailing_list.double_opt_in
    target = S.CONFIRMED if single else S.PENDING
    if subscription is None:
        subscription = start_subscription(
            session, subscriber, mailing_list, target, request.evidence, topics=topics, now=now
        )
        set_reading(subscription, reading)
        _sign_up_kinds(subscription, request, alert_topics)
    elif subscription.state is S.CONFIRMED:
        # Their choices change on the preferences page, which proves they own the address.
        return SignupResult(SignupOutcome.ALREADY_CONFIRMED, subscription)
    elif subscription.state is S.PENDING:
        subscription.topics = topics
        set_reading(subscription, reading)
        _sign_up_kinds(subscription, request, alert_topics)
        if single:
            # Recorded prior consent (or a single opt-in list) needs no confirmation email.
            transition(session, subscription, S.CONFIRMED, request.evidence, now=now)
        else:
            sent = subscription.confirmation_sent_at
            if sent is not None and now - sent < policy.resend_interval:
                return SignupResult(SignupOutcome.CONFIRMATION_THROTTLED, subscription)
    else:
        subscription.topics = topics
        set_reading(subscription, reading)
        _sign_up_kinds(subscription, request, alert_topics)
        transition(session, subscription, target, request.evidence, now=now)
    if single:
        lift_suppression(session, email)
        if request.evidence.source is not ConsentSource.IMPORT:
            welcome_after_commit(session, welcomer, [subscription], window=policy.welcome_window)
        return SignupResult(SignupOutcome.CONFIRMED, subscription)
    subscription.confirmation_sent_at = now
    session.flush()
    send_confirmations(session, confirmer, [subscription.id])
    return SignupResult(SignupOutcome.CONFIRMATION_SENT, subscription)


def _sign_up_kinds(
    subscription: Subscription, request: SignupRequest, alert_topics: list[str]
) -> None:
    """The kinds of mail a sign-up asks for: the digest, and alerts if ticked."""
    subscription.digests = True
    subscription.alerts = request.alerts
    subscription.alert_topics = alert_topics if request.alerts else []


def set_reading(subscription: Subscription, reading: Reading) -> None:
    """Give a subscription its cadence and weekly day (checked by ``clean_reading``)."""
    subscription.cadence = reading.cadence
    subscription.weekly_day = reading.weekly_day


def send_confirmations(session: Session, confirmer: Confirmer, subscription_ids: list[int]) -> None:
    """Email these subscriptions' confirmation links once ``session`` commits (not on rollback).

    The rows are read again in a session of their own: the committed session may not
    emit SQL any more, and the confirmer needs each subscriber and list.
    """
    if not subscription_ids:
        return
    ids = list(subscription_ids)
    bind = session.get_bind()

    def send() -> None:
        with Session(bind) as fresh:
            loaded: list[Subscription] = []
            for start in range(0, len(ids), LOAD_CHUNK):
                chunk = ids[start : start + LOAD_CHUNK]
                # One still pending: a later step of the same transaction may have confirmed it.
                query = select(Subscription).where(
                    Subscription.id.in_(chunk), Subscription.state == S.PENDING
                )
                loaded.extend(fresh.scalars(query.order_by(Subscription.id)))
            confirmer.send(loaded)

    after_commit(session, send)


def confirm(
    session: Session,
    subject: TokenSubject,
    evidence: Evidence,
    *,
    policy: OptInPolicy = OptInPolicy(),
    welcomer: Welcomer | None = None,
    now: datetime | None = None,
) -> Subscription:
    """Confirm a pending subscription (idempotent once confirmed), welcomed after the commit.

    A sign-up left pending past the policy's expiry is marked expired instead, and
    returned in state ``EXPIRED``: the caller commits that and tells the reader to sign
    up again (raising here would roll the expiry back).
    """
    now = now or utcnow()
    subscription = subscription_for(session, subject)
    if subscription.state is S.CONFIRMED:
        return subscription
    if subscription.state is not S.PENDING:
        raise TransitionError(
            "confirm: this sign-up is no longer waiting for confirmation; please sign up again"
        )
    since = subscription.pending_since or subscription.created_at
    if now - since > policy.pending_expiry:
        transition(session, subscription, S.EXPIRED, evidence, now=now)
        return subscription
    transition(session, subscription, S.CONFIRMED, evidence, now=now)
    lift_suppression(session, subscription.subscriber.email)
    welcome_after_commit(session, welcomer, [subscription], window=policy.welcome_window)
    return subscription


def unsubscribe(
    session: Session, subject: TokenSubject, evidence: Evidence, *, now: datetime | None = None
) -> Subscription:
    """Unsubscribe from one list, or leave one kind of mail; doing it twice changes nothing more.

    A token naming a kind (the links in a mail of that kind) leaves only that kind
    (``leave_kind``); one without (older mails, the CLI) ends the whole subscription.
    """
    subscription = subscription_for(session, subject)
    if subject.kind is not None:
        leave_kind(session, subscription, subject.kind, evidence, now=now)
    elif subscription.state in (S.PENDING, S.CONFIRMED):
        transition(session, subscription, S.UNSUBSCRIBED, evidence, now=now)
    return subscription


KIND_NAMES = {MailKind.DIGEST: "the digest", MailKind.ALERT: "alerts"}


def gets_kind(subscription: Subscription, kind: MailKind) -> bool:
    """Whether the subscription chose this kind of mail (its state aside)."""
    return subscription.digests if kind is MailKind.DIGEST else subscription.alerts


def set_kind(subscription: Subscription, kind: MailKind, wanted: bool) -> None:
    """Turn one kind of mail on or off for the subscription (its state aside)."""
    if kind is MailKind.DIGEST:
        subscription.digests = wanted
    else:
        subscription.alerts = wanted


def leave_kind(
    session: Session,
    subscription: Subscription,
    kind: MailKind,
    evidence: Evidence,
    *,
    now: datetime | None = None,
) -> bool:
    """Stop one kind of mail; leaving the last kind ends the subscription. Whether it changed.

    Either way a consent row records it (the kind left in its text). An ended
    subscription, or a kind already left, changes nothing.
    """
    if subscription.state not in (S.PENDING, S.CONFIRMED):
        return False
    had = gets_kind(subscription, kind)
    set_kind(subscription, kind, False)
    left = f"left {KIND_NAMES[kind]}"
    if not subscription.digests and not subscription.alerts:
        text = f"{left}, the last kind of mail" + (f" ({evidence.text})" if evidence.text else "")
        transition(session, subscription, S.UNSUBSCRIBED, replace(evidence, text=text), now=now)
        return True
    if had:
        text = left + (f" ({evidence.text})" if evidence.text else "")
        record_choice(session, subscription, replace(evidence, text=text), now=now)
    return had


def join_kind(
    session: Session,
    subscription: Subscription,
    kind: MailKind,
    evidence: Evidence,
    *,
    now: datetime | None = None,
) -> bool:
    """Take one kind of mail (again), recorded as a consent; whether anything changed.

    The reader asked for this kind from a mail sent to their address (a provider's
    unsubscribe-group page). A subscription that ended comes back confirmed with
    this kind only; one that never was confirmed (expired) is left as it is.
    """
    joined = f"joined {KIND_NAMES[kind]}" + (f" ({evidence.text})" if evidence.text else "")
    if subscription.state is S.UNSUBSCRIBED:
        transition(session, subscription, S.CONFIRMED, replace(evidence, text=joined), now=now)
        set_kind(subscription, MailKind.DIGEST, kind is MailKind.DIGEST)
        set_kind(subscription, MailKind.ALERT, kind is MailKind.ALERT)
        return True
    if subscription.state not in (S.PENDING, S.CONFIRMED) or gets_kind(subscription, kind):
        return False
    set_kind(subscription, kind, True)
    record_choice(session, subscription, replace(evidence, text=joined), now=now)
    return True


def expire_pending(
    session: Session, *, policy: OptInPolicy = OptInPolicy(), now: datetime | None = None
) -> int:
    """Expire sign-ups left unconfirmed longer than the policy allows; returns how many."""
    now = now or utcnow()
    cutoff = now - policy.pending_expiry
    stale = session.scalars(
        select(Subscription).where(
            Subscription.state == S.PENDING, Subscription.pending_since < cutoff
        )
    ).all()
    evidence = Evidence(ConsentSource.CLI, text="pending sign-up expired")
    for subscription in stale:
        transition(session, subscription, S.EXPIRED, evidence, now=now)
    return len(stale)


def unsubscribe_everywhere(
    session: Session, raw_email: str, evidence: Evidence, *, now: datetime | None = None
) -> int:
    """Leave every list; returns how many subscriptions changed."""
    subscriber = get_subscriber(session, raw_email)
    changed = 0
    for subscription in subscriber.subscriptions:
        if subscription.state in (S.PENDING, S.CONFIRMED):
            transition(session, subscription, S.UNSUBSCRIBED, evidence, now=now)
            changed += 1
    return changed
