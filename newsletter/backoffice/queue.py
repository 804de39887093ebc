"""The review queue: briefings with their latest revision, filtered by state and topic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.briefings.models import Briefing, BriefingRevision, BriefingState

QUEUE_LIMIT = 500


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue: what an editor needs to decide whether to open it."""

    slug: str
    title: str
    state: BriefingState
    revision: int
    live_revision: int | None
    topics: tuple[str, ...]
    warnings: tuple[str, ...]
    updated_at: datetime
    source: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view for the API."""
        return {
            "slug": self.slug,
            "title": self.title,
            "state": self.state.value,
            "revision": self.revision,
            "live_revision": self.live_revision,
            "topics": list(self.topics),
            "warnings": list(self.warnings),
            "updated_at": self.updated_at.isoformat(),
        }


def briefing_queue(
    session: Session,
    *,
    state: BriefingState | None = None,
    topic: str | None = None,
    limit: int = QUEUE_LIMIT,
) -> list[QueueRow]:
    """Briefings (newest change first) with their latest revision's title, topics, warnings."""
    query = (
        select(Briefing, BriefingRevision)
        .join(
            BriefingRevision,
            (BriefingRevision.briefing_id == Briefing.id)
            & (BriefingRevision.number == Briefing.latest_revision),
        )
        .order_by(Briefing.updated_at.desc(), Briefing.id.desc())
    )
    if state is not None:
        query = query.where(Briefing.state == state)
    wanted = (topic or "").strip().casefold()
    rows: list[QueueRow] = []
    # Topics live inside the JSON content, so the topic filter runs here, not in SQL.
    for briefing, revision in session.execute(query):
        content = revision.content
        topics = tuple(str(t.get("name", "")) for t in content.get("topics", ()))
        if wanted and wanted not in {t.casefold() for t in topics}:
            continue
        rows.append(
            QueueRow(
                slug=briefing.slug,
                title=revision.title,
                state=briefing.state,
                revision=briefing.latest_revision,
                live_revision=briefing.approved_revision,
                topics=topics,
                warnings=tuple(str(w.get("message", "")) for w in content.get("warnings", ())),
                updated_at=briefing.updated_at,
                source=revision.source,
            )
        )
        if len(rows) >= limit:
            break
    return rows


def known_topics(session: Session) -> list[str]:
    """Every topic named by a latest revision, sorted, for the filter's choices."""
    names: set[str] = set()
    query = select(BriefingRevision.content).join(
        Briefing,
        (BriefingRevision.briefing_id == Briefing.id)
        & (BriefingRevision.number == Briefing.latest_revision),
    )
    for content in session.scalars(query):
        names.update(str(t.get("name", "")) for t in content.get("topics", ()))
    names.discard("")
    return sorted(names, key=str.casefold)
