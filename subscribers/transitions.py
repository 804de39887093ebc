"""State changes of a subscription, each with the consent record it writes.

``transition`` moves a subscription along the table in ``models`` (or raises
``TransitionError``); ``start_subscription`` creates one, pending or confirmed. Both write
a ``Consent`` row saying who asked, how (``Evidence``) and when. The caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.db import utcnow
from newsletter.errors import TransitionError
from subscribers.models import (
    Consent,
    ConsentSource,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionState,
    check_transition,
)

S = SubscriptionState


@dataclass(frozen=True)
class Evidence:
    """How a request reached us, kept in the consent record."""

    source: ConsentSource
    text: str = ""
    ip: str | None = None
    user_agent: str | None = None


def _apply(subscription: Subscription, target: SubscriptionState, now: datetime) -> None:
    subscription.state = target
    if target is S.PENDING:
        subscription.pending_since = now
        subscription.confirmation_sent_at = None
    elif target is S.CONFIRMED:
        subscription.confirmed_at = now
        subscription.unsubscribed_at = None
        # Each confirmation owes its own welcome (``subscribers.welcome``).
        subscription.welcomed_at = None
    elif target is S.UNSUBSCRIBED:
        subscription.unsubscribed_at = now


def _record(
    session: Session,
    subscription: Subscription,
    current: SubscriptionState | None,
    evidence: Evidence,
    now: datetime,
) -> None:
    session.add(
        Consent(
            subscriber_id=subscription.subscriber_id,
            list_id=subscription.list_id,
            from_state=current.value if current is not None else None,
            to_state=subscription.state.value,
            source=evidence.source,
            text=evidence.text,
            ip=evidence.ip,
            user_agent=evidence.user_agent[:500] if evidence.user_agent else None,
            at=now,
        )
    )


def record_choice(
    session: Session, subscription: Subscription, evidence: Evidence, *, now: datetime | None = None
) -> None:
    """Record a consent that changes no state (a kind of mail left or joined), as ``text`` says."""
    _record(session, subscription, subscription.state, evidence, now or utcnow())


def transition(
    session: Session,
    subscription: Subscription,
    target: SubscriptionState,
    evidence: Evidence,
    *,
    now: datetime | None = None,
) -> None:
    """Move ``subscription`` to ``target`` (or raise ``TransitionError``) and record consent."""
    now = now or utcnow()
    current = subscription.state
    check_transition(current, target)
    _apply(subscription, target, now)
    _record(session, subscription, current, evidence, now)


def start_subscription(
    session: Session,
    subscriber: Subscriber,
    mailing_list: MailingList,
    target: SubscriptionState,
    evidence: Evidence,
    *,
    topics: Sequence[str] = (),
    now: datetime | None = None,
) -> Subscription:
    """A new subscription, pending or confirmed, with its first consent record."""
    if target not in (S.PENDING, S.CONFIRMED):
        raise TransitionError(f"a new subscription cannot start {target.value}")
    now = now or utcnow()
    subscription = Subscription(
        subscriber=subscriber, mailing_list=mailing_list, topics=list(topics)
    )
    _apply(subscription, target, now)
    session.add(subscription)
    session.flush()
    _record(session, subscription, None, evidence, now)
    return subscription
