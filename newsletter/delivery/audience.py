"""How many readers an alert would reach now: the count its confirmation step shows.

The rules are planning's (``planning.skip_reason`` and ``roster``): a subscription on
the publication's list, confirmed, not paused, its address not suppressed, with
alerts on, and ``alert_topics`` empty (every topic) or sharing a topic with the
briefing (compared case-folded, as digest topics are). The database counts readers
per distinct ``alert_topics`` value; Python judges each value once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from newsletter.delivery.roster import _address_hash as address_hash
from newsletter.publications.models import Publication
from subscribers.models import Subscriber, Subscription, SubscriptionState, Suppression
from subscribers.services import ensure_default_list


def topics_match(chosen: Iterable[str], topics: Iterable[str]) -> bool:
    """Whether a reader's alert topics (empty: every topic) take a briefing on ``topics``."""
    wanted = {topic.casefold() for topic in chosen}
    return not wanted or any(topic.casefold() in wanted for topic in topics)


def alert_readers(
    session: Session, publication: Publication, topics: Iterable[str], now: datetime
) -> int:
    """How many readers of ``publication`` an alert on ``topics`` would reach at ``now``."""
    mailing_list = ensure_default_list(session, publication)
    stored = cast(Subscription.alert_topics, Text)
    query = (
        select(stored, func.count())
        .select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .outerjoin(Suppression, Suppression.email_hash == address_hash(session))
        .where(
            Subscription.list_id == mailing_list.id,
            Subscription.alerts.is_(True),
            Subscription.state == SubscriptionState.CONFIRMED,
            or_(Subscription.paused_until.is_(None), Subscription.paused_until <= now),
            Suppression.id.is_(None),
        )
        .group_by(stored)
    )
    briefing_topics = list(topics)
    total = 0
    for text, count in session.execute(query):
        chosen = json.loads(text) if text else []
        if topics_match([str(topic) for topic in chosen or []], briefing_topics):
            total += int(count)
    return total
