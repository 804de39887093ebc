"""Weekly roundups seen before they exist: what a weekly reader would get for a date.

A roundup is assembled like any edition (``services.assemble_digest`` with
``Cadence.WEEKLY``; the rule is ``assembly.select_roundup``). The editors' preview
needs it earlier, without freezing anything: ``roundup_edition`` assembles it in a
savepoint that is rolled back, so a briefing approved afterwards still belongs in the
real roundup, and returns the plain ``Edition`` the renderers take.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from sqlalchemy.orm import Session

from newsletter.content.edition import Cadence, Edition
from newsletter.digests.models import Digest, DigestState
from newsletter.digests.services import assemble_digest, build_edition, find_digest, tentatively
from newsletter.publications.models import Publication
from newsletter.publications.topics import topic_slugs


def roundup_edition(
    session: Session, publication: Publication, edition_date: date, *, now: datetime
) -> Edition | None:
    """The weekly roundup of ``edition_date`` as weekly readers would get it (unsaved).

    The stored roundup if it was assembled already; otherwise one assembled now and
    rolled back (its cut-off is the publication's send time that day, so briefings
    approved by ``now`` count when the date is still ahead). None when the roundup
    has nothing to carry (it would be skipped).
    """
    stored = find_digest(session, publication.id, edition_date, Cadence.WEEKLY)
    if stored is not None:
        return _edition(session, publication, stored) if stored.items else None
    with tentatively(session):
        digest = assemble_digest(
            session, publication, edition_date, now=now, cadence=Cadence.WEEKLY
        ).digest
        if digest.state is DigestState.SKIPPED:
            return None
        return _edition(session, publication, digest)


def _edition(session: Session, publication: Publication, digest: Digest) -> Edition:
    slugs = tuple(topic_slugs(session, publication).items())
    return replace(build_edition(digest), topic_slugs=slugs)
