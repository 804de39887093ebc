"""Pending public changes: what must still reach the static export and the WebSub hub.

One row per change that made something public (an edition published, a correction,
a withdrawal, a takedown, an expiry), written in the same transaction as the change
itself. Flushing coalesces a publication's pending rows into one export and one hub
ping; a row remembers which of the two it still needs, its attempts, when to try
again and the last error, so retries survive a restart.

    pending ──▶ done        both stages finished (or not configured)
       │ ├────▶ failed      the hub refused the ping (4xx other than 429): not retried
       │ └────▶ gave_up     still failing after ``GIVE_UP_AFTER``; the last error is kept
       └─(retry)─▶ pending  a passing failure: attempts + 1, next_attempt_at later
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db import Base, UTCDateTime, enum_column, utcnow
from newsletter.errors import TransitionError


class ChangeState(StrEnum):
    """Where a pending public change is: waiting, done, or stopped with its reason."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    GAVE_UP = "gave_up"


TRANSITIONS: dict[ChangeState, frozenset[ChangeState]] = {
    ChangeState.PENDING: frozenset(
        {ChangeState.PENDING, ChangeState.DONE, ChangeState.FAILED, ChangeState.GAVE_UP}
    ),
    ChangeState.DONE: frozenset(),
    ChangeState.FAILED: frozenset(),
    ChangeState.GAVE_UP: frozenset(),
}


def can_transition(current: ChangeState, to: ChangeState) -> bool:
    """Whether the state machine allows ``current`` → ``to``."""
    return to in TRANSITIONS[current]


class PublicChange(Base):
    """A change of one publication that the export and the hub must still hear of."""

    __tablename__ = "public_changes"
    __table_args__ = (Index("ix_public_changes_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(
        ForeignKey("publications.id", ondelete="CASCADE"), index=True
    )
    feed_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(String(300))
    state: Mapped[ChangeState] = mapped_column(
        enum_column(ChangeState, "public_change_state"), default=ChangeState.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    def move(self, to: ChangeState, now: datetime) -> None:
        """Change state (``finished_at`` set when it stops), or raise TransitionError."""
        if not can_transition(self.state, to):
            raise TransitionError(
                f"public change {self.id} cannot go from {self.state.value} to {to.value}"
            )
        self.state = to
        if to is not ChangeState.PENDING:
            self.finished_at = now
