"""Recurring schedules: set a publication's schedule, pause and resume it, and read it
as the plain value ``due`` works on.

Named slots are ``slots``; one-off editions ``editions``; claiming due editions
``claim``. Cancelling an edition is the pipeline's (``newsletter.pipeline.cancel``).

A local-delivery publication's edition is due at the earliest of its readers' zones
(``due`` module docstring): ``reader_zones`` reads the distinct zones of its confirmed
readers.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import parsing
from newsletter.db import utcnow
from newsletter.errors import InvalidInputError
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.schedules import due
from newsletter.schedules.models import ScheduleActivity
from newsletter.schedules.slots import slots_of
from subscribers.models import MailingList, Subscriber, Subscription, SubscriptionState


def active_since(session: Session, publication: Publication) -> datetime:
    """Since when the publication's recurring schedule counts."""
    row = session.get(ScheduleActivity, publication.id)
    return max(publication.created_at, row.active_since) if row else publication.created_at


def mark_active(session: Session, publication: Publication, now: datetime) -> None:
    """Record that the schedule counts from ``now`` on (after a change or a resume)."""
    row = session.get(ScheduleActivity, publication.id)
    if row is None:
        session.add(ScheduleActivity(publication_id=publication.id, active_since=now))
    else:
        row.active_since = now
    session.flush()


def recurring(
    session: Session, publication: Publication, zones: frozenset[str] = frozenset()
) -> due.Recurring:
    """A publication's schedule as the plain value ``due`` works on (``zones``: its
    readers' zones, which matter only with local delivery; see ``reader_zones``)."""
    since = active_since(session, publication)
    slots = tuple(
        due.Slot(
            name=row.name,
            send_time=row.send_time,
            weekdays=frozenset(row.weekdays),
            cutoff_minutes=row.cutoff_minutes,
            active_since=max(since, row.created_at),
        )
        for row in slots_of(session, publication)
    )
    return due.Recurring(
        publication_id=publication.id,
        send_time=publication.send_time,
        weekdays=frozenset(publication.weekdays),
        timezone=publication.timezone,
        active_since=since,
        paused=publication.paused,
        weekly_days=frozenset(publication.weekly_days),
        local_delivery=publication.local_delivery,
        zones=zones,
        slots=slots,
    )


def reader_zones(session: Session, publication_ids: list[int]) -> dict[int, frozenset[str]]:
    """The distinct zones of each publication's confirmed digest readers (one query for all).

    Readers without a zone take the publication's, which always counts anyway. A zone
    this system cannot read (it was valid when stored) is left out rather than stopping
    the tick: those readers are still delivered by the delivery core.
    """
    found: dict[int, set[str]] = {publication_id: set() for publication_id in publication_ids}
    if not publication_ids:
        return {}
    rows = session.execute(
        select(MailingList.publication_id, Subscriber.timezone)
        .join(Subscription, Subscription.list_id == MailingList.id)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(
            MailingList.publication_id.in_(publication_ids),
            Subscription.state == SubscriptionState.CONFIRMED,
            # Alerts go at once: only readers of the digest move its schedule.
            Subscription.digests.is_(True),
            Subscriber.timezone.is_not(None),
        )
        .distinct()
    )
    for publication_id, name in rows:
        if name and parsing.read_zone(name) is not None:
            found[publication_id].add(name)
    return {publication_id: frozenset(zones) for publication_id, zones in found.items()}


def publication_schedule(session: Session, publication: Publication) -> due.Recurring:
    """A publication's schedule with its readers' zones when it delivers locally."""
    if not publication.local_delivery:
        return recurring(session, publication)
    zones = reader_zones(session, [publication.id]).get(publication.id, frozenset())
    return recurring(session, publication, zones)


def set_schedule(
    session: Session,
    slug: str,
    *,
    send_time: time,
    timezone: str,
    weekdays: frozenset[str],
    now: datetime | None = None,
) -> Publication:
    """Change a publication's recurring schedule; editions before ``now`` are not due."""
    parsing.zone(timezone)
    if not weekdays:
        raise InvalidInputError("--days: give at least one day")
    publication = get_publication(session, slug)
    publication.send_time = send_time
    publication.timezone = timezone
    publication.weekdays = [day for day in parsing.WEEKDAYS if day in weekdays]
    mark_active(session, publication, now or utcnow())
    return publication


def set_paused(
    session: Session, slug: str, paused: bool, *, now: datetime | None = None
) -> Publication:
    """Pause or resume a publication; on resume, editions due while paused are not sent."""
    publication = get_publication(session, slug)
    if publication.paused and not paused:
        mark_active(session, publication, now or utcnow())
    publication.paused = paused
    session.flush()
    return publication
