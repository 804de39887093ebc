"""The Event Webhook's inbox: verified posts stored as received, applied later in sets.

The webhook stores each signed, well-formed post as one row (``store_post``: one
INSERT in a short transaction) and answers at once. An applier later takes the
oldest pending posts (``take_pending``), marking them applied in the same
transaction as their effects, so a crash between storing and applying loses
nothing: a rolled-back applier leaves its posts pending for the next one.

One applier at a time: on PostgreSQL a transaction-scoped advisory lock (a second
applier does not wait, it leaves the work to the one running), on SQLite the
database's single write lock taken at ``BEGIN IMMEDIATE``. Posts are therefore
applied strictly in arrival (id) order and never twice, so counts such as opens
cannot be doubled by two workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import (
    Connection,
    Index,
    Integer,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.db import Base, UTCDateTime, utcnow

# Any constant shared by every applier of one database; advisory locks are per database.
APPLIER_LOCK_KEY = 7_240_512_001
# Applied posts are kept this long (for inspection and replay), then pruned.
RETENTION = timedelta(days=2)


class WebhookPost(Base):
    """One verified Event Webhook post, kept as received until its events are applied."""

    __tablename__ = "webhook_posts"
    __table_args__ = (Index("ix_webhook_posts_applied_at_id", "applied_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    events: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[str] = mapped_column(Text)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


@dataclass(frozen=True)
class PendingPost:
    """A post taken for applying: its id and its body as received."""

    id: int
    body: str


def store_post(
    session: Session | Connection, body: str, events: int, *, now: datetime | None = None
) -> int:
    """Store one verified post (a single INSERT); returns its id."""
    stmt = (
        insert(WebhookPost)
        .values(received_at=now or utcnow(), events=events, body=body)
        .returning(WebhookPost.id)
    )
    return int(session.execute(stmt).scalar_one())


def _lock(session: Session) -> bool:
    """Take the applier lock for this transaction; False if another applier holds it."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        got = connection.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({APPLIER_LOCK_KEY})")
        if not got.scalar():
            return False
        # The commit need not wait for the disk: a transaction lost in a server crash
        # takes its posts' applied mark with it, so they are simply applied again.
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        return True
    # The first statement of the transaction: the write lock now (waiting up to the busy
    # timeout), not a read snapshot that a later write could find stale.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    return True


def take_pending(
    session: Session, *, max_events: int, max_posts: int = 1000, now: datetime | None = None
) -> list[PendingPost] | None:
    """Lock the inbox and mark the oldest pending posts applied (in this transaction).

    Takes posts in id order while their events add up to at most ``max_events``
    (always at least one post). Must be the first call in a fresh session. Returns
    None when another applier holds the lock, an empty list when nothing is pending.
    """
    if not _lock(session):
        return None
    rows = session.execute(
        select(WebhookPost.id, WebhookPost.events)
        .where(WebhookPost.applied_at.is_(None))
        .order_by(WebhookPost.id)
        .limit(max_posts)
    ).all()
    chosen: list[int] = []
    total = 0
    for post_id, events in rows:
        if chosen and total + events > max_events:
            break
        chosen.append(post_id)
        total += events
    if not chosen:
        return []
    table = cast(Table, WebhookPost.__table__)
    bodies = session.execute(
        update(table)
        .where(table.c.id.in_(chosen))
        .values(applied_at=now or utcnow())
        .returning(table.c.id, table.c.body)
    ).all()
    return [PendingPost(post_id, body) for post_id, body in sorted(bodies, key=lambda r: r[0])]


def pending_posts(session: Session) -> int:
    """How many stored posts wait to be applied."""
    count = session.scalar(
        select(func.count()).select_from(WebhookPost).where(WebhookPost.applied_at.is_(None))
    )
    return int(count or 0)


def prune(session: Session, *, now: datetime | None = None, keep: timedelta = RETENTION) -> int:
    """Delete posts applied longer than ``keep`` ago; returns how many."""
    result = session.execute(
        delete(WebhookPost)
        .where(WebhookPost.applied_at < (now or utcnow()) - keep)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
