"""Test data for dispatch tests: a rendered edition and subscribers written in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from newsletter.db import Database
from newsletter.delivery.models import Delivery, DeliveryState, SendBatch
from newsletter.digests.services import assemble_digest, render_digest
from subscribers.models import Subscriber, Subscription, SubscriptionState
from subscribers.services import ensure_default_list
from subscribers.tokens import Tokens
from tests.factories import T0, make_briefings, make_publication

EDITION_DATE = date(2026, 3, 2)
NOW = T0 + timedelta(hours=3)
SECRET = "dispatch-tests-secret-key-0123456789abcdef"
BASE_URL = "https://app.example.org"


def tokens() -> Tokens:
    """The token maker tests share with the code under test."""
    return Tokens(SECRET)


def rendered_digest(
    session: Session, *, topics: Sequence[str] = ("Science", "Harbour"), slug: str = "morning"
) -> tuple[int, int]:
    """A publication with an assembled, rendered edition; returns (digest id, list id)."""
    publication = make_publication(session, slug=slug)
    make_briefings(session, 2, topics=list(topics))
    digest = assemble_digest(session, publication, EDITION_DATE, now=T0 + timedelta(hours=1)).digest
    render_digest(session, digest.id)
    return digest.id, ensure_default_list(session, publication).id


def add_subscribers(
    session: Session,
    list_id: int,
    count: int,
    *,
    start: int = 1,
    state: SubscriptionState = SubscriptionState.CONFIRMED,
    topics: Sequence[str] = (),
    paused_until: datetime | None = None,
    prefix: str = "reader",
) -> list[int]:
    """``count`` subscribers ``<prefix><n>@example.org`` on the list; returns their ids."""
    if count == 0:
        return []
    emails = [f"{prefix}{n}@example.org" for n in range(start, start + count)]
    session.execute(
        insert(Subscriber),
        [{"email": e, "name": f"Reader {e.split('@')[0]}", "created_at": T0} for e in emails],
    )
    ids = list(session.scalars(select(Subscriber.id).where(Subscriber.email.in_(emails))))
    rows: list[dict[str, Any]] = [
        {
            "subscriber_id": subscriber_id,
            "list_id": list_id,
            "state": state,
            "topics": list(topics),
            "paused_until": paused_until,
            "created_at": T0,
        }
        for subscriber_id in ids
    ]
    session.execute(insert(Subscription), rows)
    return sorted(ids)


def edition_with_readers(database: Database, count: int, **kwargs: Any) -> tuple[int, int]:
    """A rendered edition and ``count`` confirmed readers; returns (digest id, list id)."""
    with database.session() as session:
        digest_id, list_id = rendered_digest(session, **kwargs)
        add_subscribers(session, list_id, count)
    return digest_id, list_id


def states(database: Database, digest_id: int) -> dict[str, int]:
    """Deliveries of a digest per state."""
    with database.session() as session:
        rows = session.scalars(select(Delivery.state).where(Delivery.digest_id == digest_id))
        counts: dict[str, int] = {}
        for state in rows:
            counts[state.value] = counts.get(state.value, 0) + 1
        return counts


def batch_states(database: Database, digest_id: int) -> list[str]:
    """The state of each batch of a digest, by number."""
    with database.session() as session:
        rows = session.scalars(
            select(SendBatch.state)
            .where(SendBatch.digest_id == digest_id)
            .order_by(SendBatch.number)
        )
        return [state.value for state in rows]


def delivery_state(database: Database, digest_id: int, subscriber_id: int) -> DeliveryState:
    """The state of one subscriber's delivery."""
    with database.session() as session:
        return session.scalars(
            select(Delivery.state).where(
                Delivery.digest_id == digest_id, Delivery.subscriber_id == subscriber_id
            )
        ).one()
