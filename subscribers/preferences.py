"""The preferences page's changes: lists joined or left, topics, cadence, zone, a pause.

The page is reached with a preferences token, which proved the reader owns the address,
so joining a list here confirms at once. Every value is checked before anything
changes; a refusal is a ``ChoiceError`` naming the field (and the list it belongs to),
so the page can show it next to that field. The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.db import utcnow
from newsletter.errors import InvalidInputError
from subscribers.choices import Reading, clean_reading, offered_days, offered_topics
from subscribers.models import MailingList, Subscriber, SubscriptionState
from subscribers.profile import clean_topics, clean_zone
from subscribers.services import lists_of_publication, set_reading
from subscribers.transitions import Evidence, start_subscription, transition

S = SubscriptionState


class ChoiceError(InvalidInputError):
    """A refused preference: the message names the field; ``field`` and ``list_id`` place it."""

    def __init__(self, message: str, *, field: str, list_id: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.list_id = list_id


@dataclass(frozen=True)
class ListChoice:
    """Whether to receive one list, which topics (empty = all), and how often.

    ``cadence`` and ``weekly_day`` are as typed; ``cadence`` ``None`` keeps the
    subscription's current reading (a form that does not show it).
    """

    list_id: int
    subscribed: bool
    topics: tuple[str, ...] = ()
    cadence: str | None = None
    weekly_day: str = ""


@dataclass(frozen=True)
class Preferences:
    """Everything the preferences page can change at once.

    ``timezone``: an IANA zone, ``""`` for the publication's, ``None`` to keep it.
    """

    choices: tuple[ListChoice, ...]
    paused_until: datetime | None = None
    timezone: str | None = None


def _field_of(error: InvalidInputError) -> str:
    return str(error).split(":", 1)[0].strip()


def _checked(
    session: Session, choice: ListChoice, mailing_list: MailingList
) -> tuple[list[str], Reading | None]:
    publication = mailing_list.publication
    try:
        topics = clean_topics(choice.topics, offered_topics(session, publication))
        reading = (
            None
            if choice.cadence is None
            else clean_reading(choice.cadence, choice.weekly_day, offered_days(publication))
        )
    except InvalidInputError as exc:
        raise ChoiceError(
            f"{exc} ({mailing_list.name})", field=_field_of(exc), list_id=mailing_list.id
        ) from None
    return topics, reading


def update_preferences(
    session: Session,
    subscriber: Subscriber,
    publication_id: int,
    preferences: Preferences,
    evidence: Evidence,
    *,
    now: datetime | None = None,
) -> None:
    """Apply the preferences form: lists joined or left, topics, cadence, zone, pause.

    The token proved the reader owns the address, so joining a list here confirms at
    once. Everything is validated first: a refused value changes nothing.
    """
    now = now or utcnow()
    allowed = {
        mailing_list.id: mailing_list
        for mailing_list in lists_of_publication(session, publication_id)
    }
    try:
        zone = None if preferences.timezone is None else clean_zone(preferences.timezone)
    except InvalidInputError as exc:
        raise ChoiceError(str(exc), field="timezone") from None
    checked = []
    for choice in preferences.choices:
        mailing_list = allowed.get(choice.list_id)
        if mailing_list is None:
            raise ChoiceError(f"lists: list {choice.list_id} is not offered here", field="list")
        checked.append((choice, mailing_list, *_checked(session, choice, mailing_list)))
    if preferences.timezone is not None:
        subscriber.timezone = zone
    existing = {subscription.list_id: subscription for subscription in subscriber.subscriptions}
    for choice, mailing_list, topics, reading in checked:
        subscription = existing.get(choice.list_id)
        if choice.subscribed:
            if subscription is None:
                subscription = start_subscription(
                    session, subscriber, mailing_list, S.CONFIRMED, evidence, now=now
                )
            elif subscription.state is not S.CONFIRMED:
                transition(session, subscription, S.CONFIRMED, evidence, now=now)
            subscription.topics = topics
            if reading is not None:
                set_reading(subscription, reading)
        elif subscription is not None and subscription.state in (S.PENDING, S.CONFIRMED):
            transition(session, subscription, S.UNSUBSCRIBED, evidence, now=now)
    for subscription in subscriber.subscriptions:
        subscription.paused_until = preferences.paused_until
    session.flush()
