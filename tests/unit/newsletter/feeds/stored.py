"""Stored editions for the feed service, view and export tests (real database rows)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from newsletter.digests import services
from newsletter.digests.models import Digest, DigestState, transition
from newsletter.publications.services import get_publication
from tests.factories import make_briefing

DAY = date(2026, 3, 2)  # T0 is 05:00 UTC that day; the cut-off is 07:00 UTC

# The way each final state is reached from "rendered".
_PATHS = {
    DigestState.RENDERED: (),
    DigestState.PUBLISHED: (DigestState.PUBLISHED,),
    DigestState.SENDING: (DigestState.SENDING,),
    DigestState.SENT: (DigestState.SENDING, DigestState.SENT),
    DigestState.PARTIALLY_FAILED: (DigestState.SENDING, DigestState.PARTIALLY_FAILED),
    DigestState.FAILED: (DigestState.SENDING, DigestState.FAILED),
}


def edition(
    session: Session,
    day: date,
    slugs: list[str],
    *,
    state: DigestState = DigestState.PUBLISHED,
    slug: str = "morning",
    **briefing: Any,
) -> Digest:
    """Approve briefings ``slugs`` early on ``day``, then assemble, render and move the
    edition of ``day`` to ``state``."""
    approved = datetime(day.year, day.month, day.day, 5, tzinfo=UTC)
    for name in slugs:
        make_briefing(session, slug=name, approved_at=approved, **briefing)
    publication = get_publication(session, slug)
    now = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
    digest = services.assemble_digest(session, publication, day, now=now).digest
    services.render_digest(session, digest.id)
    for step in _PATHS[state]:
        transition(digest, step)
    session.flush()
    return digest
