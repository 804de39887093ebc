"""The tick's expiry sweep (newsletter.pipeline.tick.expire_due)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from newsletter.briefings import services as briefings
from newsletter.briefings.models import Briefing
from newsletter.db import Database
from newsletter.digests import services as digests
from newsletter.pipeline import tick
from newsletter.publications.services import get_publication
from newsletter.publishing import changes
from tests.factories import make_briefing, make_publication

DAY = date(2026, 3, 2)
CUTOFF = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def published_with(session: Session, *slugs: str) -> list[int]:
    """A published edition holding briefings that expire before NOW; their ids."""
    make_publication(session)
    ids = [make_briefing(session, slug=slug, expires="2026-03-03T00:00:00Z").id for slug in slugs]
    publication = get_publication(session, "morning")
    digest = digests.assemble_digest(session, publication, DAY, now=CUTOFF, cutoff=CUTOFF).digest
    digests.publish_digest(session, digest.id, now=CUTOFF)
    return ids


def test_due_briefings_are_expired_with_their_public_change(database: Database) -> None:
    """Each due briefing is marked expired and a public change is recorded; a rerun does nothing."""
    with database.session() as session:
        first, second = published_with(session, "first", "second")
    with database.session() as session:
        assert tick.expire_due(session, NOW) == [first, second]
    with database.session() as session:
        assert all(session.get_one(Briefing, i).expired_at == NOW for i in (first, second))
        assert [slug for slug, _ in changes.list_changes(session)] == ["morning"] * 2
        assert tick.expire_due(session, NOW) == []


def test_a_briefing_that_fails_is_left_for_the_next_tick(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One briefing that cannot be expired is logged and rolled back; the others are expired."""
    with database.session() as session:
        bad, good = published_with(session, "bad", "good")
    real = tick.expire_briefing

    def failing(session: Session, briefing: Briefing, **kwargs: Any) -> Any:
        if briefing.id == bad:
            briefings.expire(session, briefing, kwargs["now"])  # half done, then it fails
            raise RuntimeError("rendering failed")
        return real(session, briefing, **kwargs)

    monkeypatch.setattr(tick, "expire_briefing", failing)
    with database.session() as session:
        assert tick.expire_due(session, NOW) == [good]
    assert f"briefing {bad} could not be expired; the next tick tries again" in caplog.text
    with database.session() as session:
        assert session.get_one(Briefing, bad).expired_at is None
        assert session.get_one(Briefing, good).expired_at == NOW
    monkeypatch.undo()
    with database.session() as session:
        assert tick.expire_due(session, NOW) == [bad]
