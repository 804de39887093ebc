"""The "Corrections" block: the next edition of each publication lists changes to briefings
it published, each once per publication."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.briefings import services as briefings
from newsletter.db import Database
from newsletter.digests import services
from newsletter.digests.corrections_block import corrections_for, corrections_of
from newsletter.digests.models import Digest, DigestCorrection, DigestState, transition
from newsletter.digests.public import public_edition
from newsletter.publications.services import get_publication
from newsletter.render.web import render_edition_page
from tests.factories import briefing_content, make_briefing, make_publication
from tests.unit.newsletter.feeds.stored import DAY, edition

BEFORE_CUTOFF = datetime(DAY.year, DAY.month, DAY.day, 6, 30, tzinfo=UTC)


def _correct(session: Session, slug: str, note: str, title: str = "Corrected title") -> None:
    briefings.import_content(session, briefing_content(slug=slug, title=title, lede="Fixed."))
    briefings.approve(session, briefings.get_briefing(session, slug), "Ed", correction_note=note)


def _withdraw(session: Session, slug: str, note: str) -> None:
    briefings.withdraw(session, briefings.get_briefing(session, slug), "Ed", note, public=True)


def _next(session: Session, days: int, slugs: list[str], publication: str = "morning") -> Digest:
    return edition(session, DAY + timedelta(days=days), slugs, slug=publication)


def test_next_edition_lists_a_correction_and_a_withdrawal_once(database: Database) -> None:
    """Edition 2 lists the correction and the withdrawal (oldest first); edition 3 does not."""
    with database.session() as session:
        make_publication(session)
        edition(session, DAY, ["heat-record", "tram-vote"], title="Old heat title")
        _correct(session, "heat-record", "The record was 41C, not 44C.")
        _withdraw(session, "tram-vote", "The vote was postponed.")
        second = _next(session, 1, ["chip-rules"])
        block = corrections_of(session, second)
        assert [(n.kind, n.slug, n.note) for n in block] == [
            ("correction", "heat-record", "The record was 41C, not 44C."),
            ("withdrawal", "tram-vote", "The vote was postponed."),
        ]
        assert block[0].title == "Corrected title"
        assert block[1].title == "Old heat title"  # what readers saw
        assert block[0].url == "https://news.example.org/p/morning/briefings/heat-record/"
        assert "The record was 41C, not 44C." in (second.html or "")
        assert "Corrections\n===========" in (second.text or "")
        assert "41C, not" in " ".join((second.text or "").split())
        assert '<h2 id="corrections">Corrections</h2>' in (second.web_html or "")
        third = _next(session, 2, ["other-story"])
        assert corrections_of(session, third) == ()


def test_each_publication_that_carried_it_lists_it(database: Database) -> None:
    """Two publications carried the briefing: each lists the correction in its next edition."""
    with database.session() as session:
        make_publication(session)
        make_publication(session, slug="evening", name="Evening")
        edition(session, DAY, ["heat-record"])
        evening = get_publication(session, "evening")
        first_evening = services.assemble_digest(session, evening, DAY, now=BEFORE_CUTOFF).digest
        services.publish_digest(session, first_evening.id)
        _correct(session, "heat-record", "Fixed the figure.")
        morning = _next(session, 1, ["chip-rules"])
        later = _next(session, 2, ["other-story"], publication="evening")
        assert [n.slug for n in corrections_of(session, morning)] == ["heat-record"]
        assert [n.url for n in corrections_of(session, later)] == [
            "https://news.example.org/p/evening/briefings/heat-record/"
        ]
        rows = session.scalar(select(func.count()).select_from(DigestCorrection))
        assert rows == 2


def test_a_skipped_edition_leaves_corrections_for_the_next(database: Database) -> None:
    """An edition with no briefings is skipped and takes no corrections; the next one does."""
    with database.session() as session:
        publication = make_publication(session)
        edition(session, DAY, ["heat-record"])
        _correct(session, "heat-record", "Fixed.")
        skipped = services.assemble_digest(session, publication, DAY + timedelta(days=1)).digest
        assert skipped.skip_reason
        assert corrections_of(session, skipped) == ()
        later = _next(session, 2, ["chip-rules"])
        assert [n.slug for n in corrections_of(session, later)] == ["heat-record"]


def test_a_briefing_taken_down_since_leaves_the_block(database: Database) -> None:
    """The block never carries the title of a briefing taken down after its correction."""
    with database.session() as session:
        make_publication(session)
        edition(session, DAY, ["heat-record"])
        _correct(session, "heat-record", "Fixed.", title="Secret name")
        second = _next(session, 1, ["chip-rules"])
        briefings.takedown(session, briefings.get_briefing(session, "heat-record"), "Ed", "Court")
        assert corrections_of(session, second) == ()
        page = render_edition_page(public_edition(session, second))
        assert "Secret name" not in page
        assert corrections_for(session, []) == {}


def test_the_refreshed_web_copy_keeps_the_block(database: Database) -> None:
    """The public view of an edition carries its block, so re-rendered pages keep it."""
    with database.session() as session:
        make_publication(session)
        edition(session, DAY, ["heat-record"])
        _correct(session, "heat-record", "Fixed the figure.")
        second = _next(session, 1, ["chip-rules"])
        assert [n.note for n in public_edition(session, second).corrections] == [
            "Fixed the figure."
        ]


def test_a_cancelled_editions_lines_move_to_the_next(database: Database) -> None:
    """An edition cancelled before it went out gives its lines back to the next edition."""
    with database.session() as session:
        publication = make_publication(session)
        edition(session, DAY, ["heat-record"])
        _correct(session, "heat-record", "Fixed.")
        make_briefing(session, slug="late-story", approved_at=BEFORE_CUTOFF + timedelta(days=1))
        cancelled = services.assemble_digest(
            session, publication, DAY + timedelta(days=1), now=BEFORE_CUTOFF + timedelta(days=1)
        ).digest
        assert [n.slug for n in corrections_of(session, cancelled)] == ["heat-record"]
        transition(cancelled, DigestState.CANCELLED)
        later = _next(session, 2, ["chip-rules"])
        assert [n.slug for n in corrections_of(session, later)] == ["heat-record"]
        assert corrections_of(session, cancelled) == ()
