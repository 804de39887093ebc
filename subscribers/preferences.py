"""The preferences page's changes: lists joined or left, topics, a pause.

The page is reached with a preferences token, which proved the reader owns the address,
so joining a list here confirms at once. The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.db import utcnow
from newsletter.errors import InvalidInputError
from subscribers.models import Subscriber, SubscriptionState
from subscribers.profile import clean_topics
from subscribers.services import lists_of_publication
from subscribers.transitions import Evidence, start_subscription, transition

S = SubscriptionState


@dataclass(frozen=True)
class ListChoice:
    """Whether to receive one list, and which topics of it (empty = all)."""

    list_id: int
    subscribed: bool
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preferences:
    """Everything the preferences page can change at once."""

    choices: tuple[ListChoice, ...]
    paused_until: datetime | None = None


def update_preferences(
    session: Session,
    subscriber: Subscriber,
    publication_id: int,
    preferences: Preferences,
    evidence: Evidence,
    *,
    now: datetime | None = None,
) -> None:
    """Apply the preferences form: lists joined or left, topics, pause (for all lists).

    The token proved the reader owns the address, so joining a list here confirms at once.
    """
    now = now or utcnow()
    allowed = {
        mailing_list.id: mailing_list
        for mailing_list in lists_of_publication(session, publication_id)
    }
    existing = {subscription.list_id: subscription for subscription in subscriber.subscriptions}
    for choice in preferences.choices:
        mailing_list = allowed.get(choice.list_id)
        if mailing_list is None:
            raise InvalidInputError(f"lists: list {choice.list_id} is not offered here")
        topics = clean_topics(choice.topics, mailing_list.publication.topics)
        subscription = existing.get(choice.list_id)
        if choice.subscribed:
            if subscription is None:
                subscription = start_subscription(
                    session, subscriber, mailing_list, S.CONFIRMED, evidence, now=now
                )
            elif subscription.state is not S.CONFIRMED:
                transition(session, subscription, S.CONFIRMED, evidence, now=now)
            subscription.topics = topics
        elif subscription is not None and subscription.state in (S.PENDING, S.CONFIRMED):
            transition(session, subscription, S.UNSUBSCRIBED, evidence, now=now)
    for subscription in subscriber.subscriptions:
        subscription.paused_until = preferences.paused_until
    session.flush()
