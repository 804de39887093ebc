"""Finding published briefings whose expiry has passed (newsletter.publishing.expiry)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from newsletter.briefings import services as briefings
from newsletter.briefings.models import BriefingState
from newsletter.db import Database
from newsletter.digests import services as digests
from newsletter.publications.services import get_publication
from newsletter.publishing.expiry import due_expiries
from tests.factories import add_revision, briefing_content, make_briefing, make_publication

DAY = date(2026, 3, 2)
CUTOFF = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
PAST = "2026-03-04T13:00:00+01:00"  # exactly NOW: due
FUTURE = "2026-03-04T12:00:01Z"


def edition(session: Session, day: date = DAY, *, publish: bool = True) -> None:
    """Assemble (and publish) the morning edition of ``day`` at its cut-off."""
    cutoff = datetime.combine(day, CUTOFF.timetz())
    publication = get_publication(session, "morning")
    digest = digests.assemble_digest(session, publication, day, now=cutoff, cutoff=cutoff).digest
    if publish:
        digests.publish_digest(session, digest.id, now=cutoff)


def ids(session: Session, *slugs: str) -> list[int]:
    """The ids of briefings by slug, in id order."""
    return sorted(briefings.get_briefing(session, slug).id for slug in slugs)


def test_published_briefings_past_their_expiry_are_due(any_database: Database) -> None:
    """Due: published, live, expiry at or before now, not yet expired; nothing else."""
    with any_database.session() as session:
        make_publication(session)
        make_briefing(session, slug="due-now", expires=PAST)
        make_briefing(session, slug="due-earlier", expires="2026-03-03T00:00:00Z")
        make_briefing(session, slug="not-yet", expires=FUTURE)
        make_briefing(session, slug="no-expiry")
        make_briefing(session, slug="already", expires=PAST)
        make_briefing(session, slug="withdrawn", expires=PAST)
        make_briefing(session, slug="taken-down", expires=PAST)
        edition(session)
        make_briefing(session, slug="unpublished", expires=PAST)
        edition(session, DAY + timedelta(days=1), publish=False)
        make_briefing(session, slug="never-assembled", expires=PAST)
        briefings.expire(session, briefings.get_briefing(session, "already"), now=NOW)
        briefings.withdraw(session, briefings.get_briefing(session, "withdrawn"), "Ed")
        briefings.takedown(session, briefings.get_briefing(session, "taken-down"), "Ed", "Legal")
    with any_database.session() as session:
        assert due_expiries(session, NOW) == ids(session, "due-now", "due-earlier")
        assert due_expiries(session, NOW - timedelta(seconds=1)) == ids(session, "due-earlier")
        assert due_expiries(session, CUTOFF) == []


def test_the_live_revision_decides(any_database: Database) -> None:
    """A correction that adds an expiry makes the briefing due; one that removes it does not."""
    with any_database.session() as session:
        make_publication(session)
        added = make_briefing(session, slug="added")
        removed = make_briefing(session, slug="removed", expires=PAST)
        pending = make_briefing(session, slug="pending")
        edition(session)
        for briefing, expires in ((added, PAST), (removed, None), (pending, PAST)):
            content = briefing_content(slug=briefing.slug, expires=expires)
            number = add_revision(session, briefing, content)
            if briefing is not pending:
                briefing.approved_revision = number
            else:
                briefing.state = BriefingState.DRAFT  # awaiting approval: not live yet
        session.flush()
        assert due_expiries(session, NOW) == [added.id]


def test_expired_briefings_are_due_once(any_database: Database) -> None:
    """Once marked expired, a briefing is no longer due."""
    with any_database.session() as session:
        make_publication(session)
        briefing = make_briefing(session, slug="brief", expires=PAST)
        edition(session)
        assert due_expiries(session, NOW) == [briefing.id]
        briefings.expire(session, briefing, now=NOW)
        assert due_expiries(session, NOW) == []
