"""Embargo and expiry in assembly and publishing, against the real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from newsletter.db import Database
from newsletter.digests import services
from newsletter.digests.assembly import ALL_EMBARGOED
from newsletter.digests.models import Digest, DigestItem, DigestState
from newsletter.errors import TransitionError
from newsletter.publications.services import get_publication
from tests.factories import make_briefing, make_publication

DAY = date(2026, 3, 2)
CUTOFF = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # the default send time in the factory
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def assemble(session: Session, day: date = DAY) -> Digest:
    """Assemble (or find) the morning edition for ``day``."""
    publication = get_publication(session, "morning")
    return services.assemble_digest(session, publication, day, now=NOW).digest


def slugs(digest: Digest) -> list[str]:
    """The briefing slugs of a digest's snapshot, in order."""
    return [item.content["slug"] for item in digest.items]


def test_assembly_leaves_embargoed_briefings_waiting_and_expired_ones_out(
    database: Database,
) -> None:
    """Embargo and expiry read from the approved revision are judged at the edition's cut-off."""
    with database.session() as session:
        make_publication(session)
        make_briefing(session, slug="free")
        make_briefing(session, slug="lifted", embargo="2026-03-02T07:00:00Z")
        make_briefing(session, slug="tomorrow", embargo="2026-03-03T06:00:00+00:00")
        make_briefing(session, slug="stale", expires="2026-03-02T08:00:00+01:00")
        make_briefing(session, slug="fresh", expires="2026-03-02T07:00:01Z")
    with database.session() as session:
        first = assemble(session)
        assert first.cutoff_at == CUTOFF
        assert sorted(slugs(first)) == ["free", "fresh", "lifted"]
        assert first.rolled_over == 0
    with database.session() as session:
        second = assemble(session, DAY + timedelta(days=1))
        assert slugs(second) == ["tomorrow"]
    with database.session() as session:
        third = assemble(session, DAY + timedelta(days=2))
        assert third.state is DigestState.SKIPPED


def test_edition_of_only_embargoed_briefings_is_skipped_with_the_reason(
    database: Database,
) -> None:
    """When every approved briefing is under embargo the edition is skipped, saying why."""
    with database.session() as session:
        make_publication(session)
        make_briefing(session, slug="later", embargo="2026-03-05T00:00:00Z")
    with database.session() as session:
        digest = assemble(session)
        assert digest.state is DigestState.SKIPPED
        assert digest.skip_reason == ALL_EMBARGOED


def _manual_edition(session: Session, embargoes: dict[str, str | None]) -> int:
    """An edition assembled with a cut-off after every embargo, as a hand-made one may be."""
    publication = make_publication(session)
    for slug, embargo in embargoes.items():
        make_briefing(session, slug=slug, embargo=embargo)
    late = datetime(2026, 3, 9, tzinfo=UTC)
    return services.assemble_digest(session, publication, DAY, now=NOW, cutoff=late).digest.id


def test_publishing_before_the_latest_embargo_is_refused(database: Database) -> None:
    """publish_digest refuses before the latest embargo of the edition, naming briefing and time."""
    with database.session() as session:
        digest_id = _manual_edition(
            session,
            {
                "open": None,
                "soon": "2026-03-03T09:00:00+01:00",
                "latest": "2026-03-04T09:30:00+01:00",
            },
        )
    with database.session() as session:
        with pytest.raises(TransitionError) as caught:
            services.publish_digest(session, digest_id, now=datetime(2026, 3, 4, 8, tzinfo=UTC))
        message = str(caught.value)
        assert message.startswith(f"digest {digest_id} (morning 2026-03-02) cannot be made public")
        assert "before 2026-03-04 08:30:00 UTC" in message
        assert "briefing 'latest' (id " in message
        assert "under embargo until 2026-03-04T09:30:00+01:00" in message
        assert isinstance(caught.value, services.EmbargoPending)
        assert caught.value.until == datetime(2026, 3, 4, 8, 30, tzinfo=UTC)
        digest = services.get_digest(session, digest_id, populate=True)
        assert digest.published_at is None
        assert digest.state is not DigestState.PUBLISHED


def test_publishing_at_the_embargo_is_allowed(database: Database) -> None:
    """From the moment the latest embargo ends, the edition can be made public."""
    with database.session() as session:
        digest_id = _manual_edition(session, {"soon": "2026-03-03T09:00:00+01:00"})
    with database.session() as session:
        digest = services.publish_digest(
            session, digest_id, now=datetime(2026, 3, 3, 8, tzinfo=UTC)
        )
        assert digest.state is DigestState.PUBLISHED
        assert digest.published_at is not None


def test_publishing_without_embargo_is_unchanged(database: Database) -> None:
    """An edition without embargoes publishes at any time, and publishing again is a no-op."""
    with database.session() as session:
        digest_id = _manual_edition(session, {"open": None})
    with database.session() as session:
        digest = services.publish_digest(session, digest_id, now=NOW)
        assert digest.state is DigestState.PUBLISHED
        assert services.publish_digest(session, digest_id, now=NOW) is digest


def test_embargo_of_names_the_latest_one(database: Database) -> None:
    """embargo_of returns the latest embargo and its item, or None without embargoes."""
    with database.session() as session:
        digest_id = _manual_edition(
            session, {"a": "2026-03-04T00:00:00Z", "b": "2026-03-03T00:00:00Z", "c": None}
        )
        digest = services.get_digest(session, digest_id)
        found = services.embargo_of(digest)
        assert found is not None
        assert found[0] == datetime(2026, 3, 4, tzinfo=UTC)
        assert found[1].content["slug"] == "a"
        plain = Digest(items=[DigestItem(briefing_id=1, content={"slug": "c", "embargo": None})])
        assert services.embargo_of(plain) is None
