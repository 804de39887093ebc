"""Expiry after publication: briefings whose ``Expires:`` time has passed leave what is public.

Assembly already keeps an expired briefing out of later editions
(``newsletter.digests.assembly``). A briefing that went out before its expiry is in
published editions, pages and feeds; the pipeline's tick calls :func:`due_expiries`
and expires each one through the same path as a withdrawal, so the change reaches
the static export and the hub within one tick.

The expiry read is the one of the briefing's live (approved) revision: a correction
that moves or removes it counts, and a withdrawn or taken-down briefing is already
out of everything public.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.briefings.models import Briefing, BriefingRevision
from newsletter.digests.models import Digest, DigestItem


def due_expiries(session: Session, now: datetime) -> list[int]:
    """Ids of briefings in a published edition whose expiry is at or before ``now``, not yet
    marked expired, in id order.

    Only briefings that have an expiry at all are read (a JSON test in SQL), so the
    cost follows the briefings waiting to expire, not the size of the archive.
    """
    expires = BriefingRevision.content["expires"].as_string()
    published = (
        select(DigestItem.briefing_id)
        .join(Digest, Digest.id == DigestItem.digest_id)
        .where(Digest.published_at.is_not(None))
    )
    rows = session.execute(
        select(Briefing.id, expires)
        .join(
            BriefingRevision,
            (BriefingRevision.briefing_id == Briefing.id)
            & (BriefingRevision.number == Briefing.approved_revision),
        )
        .where(
            Briefing.expired_at.is_(None),
            Briefing.taken_down_at.is_(None),
            expires.is_not(None),
            Briefing.id.in_(published),
        )
        .order_by(Briefing.id)
    )
    return [briefing_id for briefing_id, value in rows if datetime.fromisoformat(value) <= now]
