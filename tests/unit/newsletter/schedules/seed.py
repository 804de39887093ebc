"""Test data for the scheduler and the pipeline: a publication with briefings and readers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from newsletter.publications.models import Publication
from subscribers.models import Subscriber, Subscription, SubscriptionState
from subscribers.services import ensure_default_list
from tests.factories import T0, make_briefings, make_publication

ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# Publications in these tests exist from well before any edition they schedule.
CREATED = T0 - timedelta(days=30)


def publication(
    session: Session,
    *,
    slug: str = "morning",
    timezone: str = "UTC",
    send_time: str = "07:00",
    weekdays: Sequence[str] = ALL_DAYS,
    briefings: int = 2,
    created: datetime = CREATED,
    **overrides: Any,
) -> Publication:
    """A publication sending every day, with approved briefings ready for its next edition."""
    pub = make_publication(
        session,
        slug=slug,
        timezone=timezone,
        send_time=send_time,
        weekdays=list(weekdays),
        **overrides,
    )
    pub.created_at = created
    if briefings:
        make_briefings(session, briefings, approved_at=CREATED)
    session.flush()
    return pub


def readers(session: Session, pub: Publication, count: int, *, start: int = 1) -> list[str]:
    """``count`` confirmed readers on the publication's list; returns their addresses."""
    list_id = ensure_default_list(session, pub).id
    emails = [f"reader{n}@example.org" for n in range(start, start + count)]
    if not emails:
        return []
    session.execute(
        insert(Subscriber), [{"email": e, "name": "", "created_at": CREATED} for e in emails]
    )
    ids = session.scalars(select(Subscriber.id).where(Subscriber.email.in_(emails)))
    session.execute(
        insert(Subscription),
        [
            {
                "subscriber_id": subscriber_id,
                "list_id": list_id,
                "state": SubscriptionState.CONFIRMED,
                "topics": [],
                "created_at": CREATED,
            }
            for subscriber_id in ids
        ],
    )
    return emails
