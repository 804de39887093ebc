"""How many readers an alert would reach now: the count its confirmation step shows.

Planning's own rules and query (``roster.reachable`` over the alert audience): a
subscription on the publication's list, confirmed, not paused, its address not
suppressed, with alerts on, and ``alert_topics`` empty (every topic) or sharing a topic
with the briefing (compared case-folded, as digest topics are).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.content.edition import Cadence
from newsletter.delivery import roster
from newsletter.publications.models import Publication
from subscribers.services import ensure_default_list


def alert_readers(
    session: Session, publication: Publication, topics: Iterable[str], now: datetime
) -> int:
    """How many readers of ``publication`` an alert on ``topics`` would reach at ``now``."""
    mailing_list = ensure_default_list(session, publication)
    audience = roster.Audience(mailing_list.id, Cadence.ALERT, default_zone=publication.timezone)
    return roster.reachable(session, audience, topics, now)
