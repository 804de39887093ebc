"""The preferences page's changes: lists joined or left, topics, cadence, zone, a pause.

The page is reached with a preferences token, which proved the reader owns the address,
so joining a list here confirms at once. Every value is checked before anything
changes; a refusal is a ``ChoiceError`` naming the field (and the list it belongs to),
so the page can show it next to that field. The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.content.edition import MailKind
from newsletter.db import utcnow
from newsletter.errors import InvalidInputError
from subscribers.choices import Reading, clean_reading, offered_days, offered_topics
from subscribers.models import MailingList, Subscriber, Subscription, SubscriptionState
from subscribers.profile import clean_alert_topics, clean_locale, clean_topics, clean_zone
from subscribers.services import (
    KIND_NAMES,
    gets_kind,
    lists_of_publication,
    set_kind,
    set_reading,
)
from subscribers.transitions import Evidence, record_choice, start_subscription, transition

S = SubscriptionState


class ChoiceError(InvalidInputError):
    """A refused preference: the message names the field; ``field`` and ``list_id`` place it."""

    def __init__(self, message: str, *, field: str, list_id: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.list_id = list_id


@dataclass(frozen=True)
class ListChoice:
    """Whether to receive one list, which topics (empty = all), how often, which kinds.

    ``cadence`` and ``weekly_day`` are as typed; ``cadence`` ``None`` keeps the
    subscription's current reading (a form that does not show it). ``digests`` and
    ``alerts`` say which kinds of mail (alerts on ``alert_topics``, empty: all).
    """

    list_id: int
    subscribed: bool
    topics: tuple[str, ...] = ()
    cadence: str | None = None
    weekly_day: str = ""
    # Kinds of mail (None: the form did not show them, keep them as they are).
    digests: bool | None = None
    alerts: bool | None = None
    alert_topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preferences:
    """Everything the preferences page can change at once.

    ``timezone``: an IANA zone, ``""`` for the publication's, ``None`` to keep it.
    ``locale``: a language tag, ``""`` for the publication's default, ``None`` to keep it.
    """

    choices: tuple[ListChoice, ...]
    paused_until: datetime | None = None
    timezone: str | None = None
    locale: str | None = None


def _profile_of(preferences: Preferences) -> tuple[str | None, str | None]:
    """The time zone and language the form chose, checked (see ``Preferences``)."""
    try:
        zone = None if preferences.timezone is None else clean_zone(preferences.timezone)
    except InvalidInputError as exc:
        raise ChoiceError(str(exc), field="timezone") from None
    try:
        locale = None if preferences.locale is None else clean_locale(preferences.locale)
    except InvalidInputError as exc:
        raise ChoiceError(str(exc), field="locale") from None
    return zone, locale


def _field_of(error: InvalidInputError) -> str:
    return str(error).split(":", 1)[0].strip()


def _checked(
    session: Session, choice: ListChoice, mailing_list: MailingList
) -> tuple[list[str], Reading | None, list[str]]:
    publication = mailing_list.publication
    try:
        offered = offered_topics(session, publication)
        topics = clean_topics(choice.topics, offered)
        reading = (
            None
            if choice.cadence is None
            else clean_reading(choice.cadence, choice.weekly_day, offered_days(publication))
        )
        alert_topics = clean_alert_topics(choice.alert_topics, offered)
        if choice.subscribed and choice.digests is False and choice.alerts is False:
            raise InvalidInputError(
                "digests: choose the digest, alerts or both (or untick the list to leave it)"
            )
    except InvalidInputError as exc:
        raise ChoiceError(
            f"{exc} ({mailing_list.name})", field=_field_of(exc), list_id=mailing_list.id
        ) from None
    return topics, reading, alert_topics


def _set_kinds(
    session: Session,
    subscription: Subscription,
    choice: ListChoice,
    alert_topics: list[str],
    evidence: Evidence,
    now: datetime,
) -> None:
    """Give the subscription the kinds of mail chosen; each kind taken or left is recorded."""
    for kind, wanted in ((MailKind.DIGEST, choice.digests), (MailKind.ALERT, choice.alerts)):
        if wanted is None or gets_kind(subscription, kind) == wanted:
            continue
        set_kind(subscription, kind, wanted)
        verb = "joined" if wanted else "left"
        record_choice(
            session, subscription, replace(evidence, text=f"{verb} {KIND_NAMES[kind]}"), now=now
        )
    if choice.alerts is not None:
        subscription.alert_topics = alert_topics


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
    zone, locale = _profile_of(preferences)
    checked = []
    for choice in preferences.choices:
        mailing_list = allowed.get(choice.list_id)
        if mailing_list is None:
            raise ChoiceError(f"lists: list {choice.list_id} is not offered here", field="list")
        checked.append((choice, mailing_list, *_checked(session, choice, mailing_list)))
    if preferences.timezone is not None:
        subscriber.timezone = zone
    if locale is not None:
        subscriber.locale = locale
    existing = {subscription.list_id: subscription for subscription in subscriber.subscriptions}
    for choice, mailing_list, topics, reading, alert_topics in checked:
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
            _set_kinds(session, subscription, choice, alert_topics, evidence, now)
        elif subscription is not None and subscription.state in (S.PENDING, S.CONFIRMED):
            transition(session, subscription, S.UNSUBSCRIBED, evidence, now=now)
    for subscription in subscriber.subscriptions:
        subscription.paused_until = preferences.paused_until
    session.flush()
