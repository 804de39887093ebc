"""Test data for alerts: readers who opted into alerts (on some topics, or all)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.publications.models import Publication
from subscribers.models import Subscriber, Subscription
from tests.unit.newsletter.schedules import seed


def alert_readers(
    session: Session,
    pub: Publication,
    count: int,
    *,
    start: int = 1,
    topics: Sequence[str] = (),
    digests: bool = True,
) -> list[str]:
    """``count`` confirmed readers with alerts on (``topics``: their alert topics; none:
    every topic); ``digests=False``: alert-only readers. Returns their addresses."""
    emails = seed.readers(session, pub, count, start=start)
    set_kinds(session, emails, alerts=True, topics=topics, digests=digests)
    return emails


def set_kinds(
    session: Session,
    emails: Sequence[str],
    *,
    alerts: bool,
    topics: Sequence[str] = (),
    digests: bool = True,
) -> None:
    """Give these readers' subscriptions these kinds of mail."""
    ids = select(Subscriber.id).where(Subscriber.email.in_(list(emails))).scalar_subquery()
    session.execute(
        update(Subscription)
        .where(Subscription.subscriber_id.in_(ids))
        .values(alerts=alerts, alert_topics=list(topics), digests=digests)
    )
