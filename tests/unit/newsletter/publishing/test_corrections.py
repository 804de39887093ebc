"""Corrections, withdrawals and takedowns of published briefings (publishing.corrections)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.briefings import services as briefings
from newsletter.briefings.models import BriefingCorrection, BriefingState, CorrectionKind
from newsletter.content.edition import EditionItem, ItemStatus
from newsletter.db import Database
from newsletter.digests import services as digests
from newsletter.digests.models import Digest
from newsletter.digests.public import REMOVED_TEXT, public_edition
from newsletter.errors import InvalidInputError, TransitionError
from newsletter.publications.services import get_publication
from newsletter.publishing import corrections
from newsletter.publishing.models import PublicChange
from tests.factories import briefing_content, make_briefing, make_publication

DAY = date(2026, 3, 2)
CUTOFF = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
SECRET = "A libellous claim about a named person."


def published(session: Session, *topics: str) -> Digest:
    """A publication with one published edition carrying the briefing ``story``."""
    make_publication(session)
    make_briefing(session, slug="story", topics=topics or ("Climate", "C++"), lede=SECRET)
    make_briefing(session, slug="other", topics=("Sport",))
    publication = get_publication(session, "morning")
    digest = digests.assemble_digest(session, publication, DAY, now=CUTOFF, cutoff=CUTOFF).digest
    digests.publish_digest(session, digest.id)
    return digest


def revise(session: Session, lede: str) -> None:
    """Import a changed revision of ``story`` (a draft over the live approved one)."""
    content = briefing_content(slug="story", topics=("Climate", "C++"), lede=lede)
    briefings.import_content(session, content, editor="Ed")


def item(session: Session, digest: Digest, slug: str = "story") -> EditionItem:
    """The public view of one briefing of the digest."""
    session.expire_all()
    edition = public_edition(session, session.get_one(Digest, digest.id))
    return next(i for i in edition.items if i.content.slug == slug)


def web_page(session: Session, digest: Digest) -> str:
    """The digest's stored web page."""
    html = session.get_one(Digest, digest.id).web_html
    assert html is not None
    return html


def pending(session: Session) -> list[PublicChange]:
    """Every recorded public change, oldest first."""
    return list(session.scalars(select(PublicChange).order_by(PublicChange.id)))


def test_approving_a_changed_published_briefing_needs_a_correction_note(
    database: Database,
) -> None:
    """No note: refused, nothing changes. With a note: corrected text, dated note, a change."""
    with database.session() as session:
        digest = published(session)
        revise(session, "The corrected account.")
        story = briefings.get_briefing(session, "story")
        with pytest.raises(InvalidInputError, match=r"note: .*'story' was published \(morning"):
            corrections.approve_briefing(session, story, "Ed")
        assert story.approved_revision == 1
        done = corrections.approve_briefing(
            session, story, "Ed", correction_note="An earlier version misnamed the minister."
        )
        assert done.publications == ("morning",)
        corrected = item(session, digest)
        assert corrected.content.lede == ("The corrected account.",)
        assert [n.note for n in corrected.corrections] == [
            "An earlier version misnamed the minister."
        ]
        assert corrected.updated_at == corrected.corrections[0].at
        assert item(session, digest, "other").corrections == ()
        page = web_page(session, digest)
        assert "The corrected account." in page
        assert SECRET not in page
        assert "An earlier version misnamed the minister." in page
        (change,) = pending(session)
        assert change.reason == "correction of story"
        base = "https://news.example.org/p/morning/feeds"
        assert f"{base}/briefings/rss.xml" in change.feed_urls
        assert f"{base}/topics/c-plus-plus/atom.xml" in change.feed_urls
        assert f"{base}/topics/climate/feed.json" in change.feed_urls
        assert not any("sport" in url for url in change.feed_urls)


def test_the_email_snapshot_is_never_touched(database: Database) -> None:
    """The digest's frozen item and its email keep the text that was sent."""
    with database.session() as session:
        digest = published(session)
        sent_html = digest.html
        revise(session, "The corrected account.")
        corrections.approve_briefing(
            session, briefings.get_briefing(session, "story"), "Ed", correction_note="Fixed."
        )
        session.expire_all()
        again = session.get(Digest, digest.id)
        assert again is not None
        assert again.html == sent_html
        assert SECRET in str([i.content for i in again.items])


def test_a_note_on_a_briefing_never_published_is_refused(database: Database) -> None:
    """Nothing to correct: a clear error; approving without a note records no change."""
    with database.session() as session:
        make_briefing(session, slug="fresh", state=BriefingState.DRAFT)
        fresh = briefings.get_briefing(session, "fresh")
        with pytest.raises(InvalidInputError, match="never published"):
            corrections.approve_briefing(session, fresh, "Ed", correction_note="Oops")
        assert not corrections.approve_briefing(session, fresh, "Ed")
        assert pending(session) == []


def test_withdrawing_a_published_briefing_shows_a_notice_and_records_it(
    database: Database,
) -> None:
    """Withdrawn: the status reaches the public view and the page loses the text."""
    with database.session() as session:
        digest = published(session)
        story = briefings.get_briefing(session, "story")
        corrections.withdraw_briefing(session, story, "Ed", comment="The source retracted it.")
        assert item(session, digest).status is ItemStatus.WITHDRAWN
        page = web_page(session, digest)
        assert SECRET not in page
        (row,) = session.scalars(select(BriefingCorrection)).all()
        assert (row.kind, row.note) == (CorrectionKind.WITHDRAWAL, "The source retracted it.")
        assert pending(session)[0].reason == "withdrawal of story"


def test_a_takedown_removes_the_text_for_good(database: Database) -> None:
    """No original text anywhere in the public view or the page; never approvable again."""
    with database.session() as session:
        digest = published(session)
        story = briefings.get_briefing(session, "story")
        with pytest.raises(InvalidInputError, match="reason: required"):
            corrections.takedown_briefing(session, story, "Ed", reason="  ")
        corrections.takedown_briefing(session, story, "Ed", reason="Court order 12/2026")
        removed = item(session, digest)
        assert removed.status is ItemStatus.TAKEN_DOWN
        assert removed.content.lede == (REMOVED_TEXT,)
        assert SECRET not in repr(removed)
        page = web_page(session, digest)
        assert SECRET not in page
        assert story.takedown_reason == "Court order 12/2026"
        revise(session, "Trying to bring it back.")
        with pytest.raises(TransitionError, match="taken down"):
            corrections.approve_briefing(session, story, "Ed")  # not "write a note"
        with pytest.raises(TransitionError, match="taken down"):
            corrections.approve_briefing(session, story, "Ed", correction_note="Back")
        with pytest.raises(TransitionError, match="already taken down"):
            corrections.takedown_briefing(session, story, "Ed", reason="again")


def test_an_expiry_acts_once(database: Database) -> None:
    """Expired: out of the public text, recorded once; a second call does nothing."""
    with database.session() as session:
        digest = published(session)
        story = briefings.get_briefing(session, "story")
        assert corrections.expire_briefing(session, story).publications == ("morning",)
        assert not corrections.expire_briefing(session, story)
        assert item(session, digest).status is ItemStatus.EXPIRED
        assert len(pending(session)) == 1


def test_a_derived_title_needs_confirming(database: Database) -> None:
    """Approval is refused until an editor confirms the derived title; the confirmation is kept."""
    with database.session() as session:
        content = briefing_content(slug="derived", title="The Netherlands tightened…")
        content = content.model_copy(update={"title_derived": True})
        briefings.import_content(session, content)
        row = briefings.get_briefing(session, "derived")
        with pytest.raises(InvalidInputError, match="derived from the text; confirm it"):
            corrections.approve_briefing(session, row, "Ed")
        assert briefings.needs_title_confirmation(session, row)
        corrections.approve_briefing(session, row, "Ed", confirm_title=True)
        assert not briefings.needs_title_confirmation(session, row)
        assert briefings.revision(session, row).title_confirmed_by == "Ed"
        actions = [event.action for event in briefings.history(session, row)]
        assert actions == ["create", "confirm_title", "approve"]
