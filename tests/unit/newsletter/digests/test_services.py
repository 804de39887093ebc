"""Digest services: assembly (order, cap, roll-over, cut-off, skip, idempotency, snapshot)
and the render service, against the real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.briefings.models import Briefing, BriefingRevision, BriefingState
from newsletter.db import Database
from newsletter.digests import services
from newsletter.digests.assembly import NO_APPROVED, NO_MATCHING_TOPICS
from newsletter.digests.models import Digest, DigestState, transition
from newsletter.errors import NotFoundError, TransitionError
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from tests.factories import (
    T0,
    add_revision,
    briefing_content,
    make_briefing,
    make_briefings,
    make_publication,
)

DAY = date(2026, 3, 2)  # T0 is 05:00 UTC that day; the default cut-off is 07:00 UTC
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def assemble(session: Session, day: date = DAY, slug: str = "morning") -> Digest:
    """Assemble (or find) the edition of ``slug`` for ``day``."""
    return services.assemble_digest(session, get_publication(session, slug), day, now=NOW).digest


def slugs(digest: Digest) -> list[str]:
    """The briefing slugs of a digest's snapshot, in order."""
    return [item.content["slug"] for item in digest.items]


def test_order_cap_and_roll_over(any_database: Database) -> None:
    """Editions hold at most the cap, by priority then approval; the rest roll over in order."""
    with any_database.session() as session:
        make_publication(session, max_briefings=2)
        make_briefings(session, 4)  # story-1 .. story-4, approved a minute apart
        make_briefing(session, slug="urgent", priority=10, approved_at=T0 + timedelta(hours=1))
    with any_database.session() as session:
        first = assemble(session, DAY)
        assert slugs(first) == ["urgent", "story-1"]
        assert first.rolled_over == 3
        assert [item.position for item in first.items] == [1, 2]
    with any_database.session() as session:
        second = assemble(session, DAY + timedelta(days=1))
        third = assemble(session, DAY + timedelta(days=2))
        fourth = assemble(session, DAY + timedelta(days=3))
        assert (slugs(second), second.rolled_over) == (["story-2", "story-3"], 1)
        assert (slugs(third), third.rolled_over) == (["story-4"], 0)
        assert fourth.state is DigestState.SKIPPED
        assert fourth.skip_reason == NO_APPROVED
        assert fourth.items == []


def test_cut_off_defers_late_approvals(database: Database) -> None:
    """A briefing approved after the send time waits for the next day's edition."""
    with database.session() as session:
        make_publication(session, timezone="Europe/London", send_time="07:00")
        make_briefing(session, slug="early", approved_at=datetime(2026, 7, 1, 5, 59, tzinfo=UTC))
        # 06:00 UTC is 07:00 in London in summer: exactly at the cut-off, so too late.
        make_briefing(session, slug="late", approved_at=datetime(2026, 7, 1, 6, 0, tzinfo=UTC))
    with database.session() as session:
        day = date(2026, 7, 1)
        edition = assemble(session, day)
        assert slugs(edition) == ["early"]
        assert edition.cutoff_at == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
        assert edition.rolled_over == 0
        assert slugs(assemble(session, day + timedelta(days=1))) == ["late"]


def test_explicit_cut_off_takes_later_approvals(database: Database) -> None:
    """An edition due later than the send time (a one-off, send-now) takes approvals until then."""
    with database.session() as session:
        publication = make_publication(session, timezone="Europe/London", send_time="07:00")
        make_briefing(session, slug="noon", approved_at=datetime(2026, 7, 1, 11, 0, tzinfo=UTC))
        due = datetime(2026, 7, 1, 12, 30, tzinfo=UTC)
        digest = services.assemble_digest(
            session, publication, date(2026, 7, 1), now=due, cutoff=due
        ).digest
        assert slugs(digest) == ["noon"]
        assert digest.cutoff_at == due


def test_eligibility_uses_the_approved_revision(database: Database) -> None:
    """Approved and pending-re-approval briefings count (at their approved revision);
    drafts, withdrawn and rejected-never-approved ones do not."""
    with database.session() as session:
        make_publication(session)
        make_briefing(session, slug="approved")
        make_briefing(session, slug="pending", state=BriefingState.DRAFT, revisions=2)
        make_briefing(session, slug="draft", state=BriefingState.DRAFT)
        make_briefing(session, slug="withdrawn", state=BriefingState.WITHDRAWN)
        make_briefing(
            session, slug="rejected", state=BriefingState.REJECTED, approved_revision=None
        )
    with database.session() as session:
        edition = assemble(session)
        assert sorted(slugs(edition)) == ["approved", "pending"]
        pending = next(item for item in edition.items if item.content["slug"] == "pending")
        assert pending.revision == 1
        assert pending.title == "Pending"


def test_topics_filter_and_topic_skip_reason(database: Database) -> None:
    """Only briefings on the publication's topics (any case) go in; none on topic skips."""
    with database.session() as session:
        make_publication(session, topics=["Science"])
        make_publication(session, slug="arts", topics=["Arts"])
        make_briefing(session, slug="lab", topics=["science", "Health"])
        make_briefing(session, slug="match", topics=["Sport"])
    with database.session() as session:
        assert slugs(assemble(session)) == ["lab"]
        arts = assemble(session, slug="arts")
        assert arts.state is DigestState.SKIPPED
        assert arts.skip_reason == NO_MATCHING_TOPICS


def test_publications_are_independent(database: Database) -> None:
    """One briefing can appear in editions of two different publications."""
    with database.session() as session:
        make_publication(session)
        make_publication(session, slug="evening")
        make_briefing(session, slug="shared")
    with database.session() as session:
        assert slugs(assemble(session)) == ["shared"]
        assert slugs(assemble(session, slug="evening")) == ["shared"]


def test_assembling_again_returns_the_same_digest(any_database: Database) -> None:
    """A second assembly for the same date returns the stored digest, even if more arrived."""
    with any_database.session() as session:
        publication = make_publication(session)
        make_briefing(session, slug="first")
    with any_database.session() as session:
        publication = get_publication(session, "morning")
        result = services.assemble_digest(session, publication, DAY, now=NOW)
        assert result.created
        digest_id = result.digest.id
    with any_database.session() as session:
        make_briefing(session, slug="second")
    with any_database.session() as session:
        publication = get_publication(session, "morning")
        again = services.assemble_digest(session, publication, DAY, now=NOW)
        assert not again.created
        assert again.digest.id == digest_id
        assert slugs(again.digest) == ["first"]
        assert session.scalars(select(Digest)).all() == [again.digest]


def test_default_date_is_today_in_the_publication_zone(database: Database) -> None:
    """Without a date, the edition is for 'today' where the publication is."""
    with database.session() as session:
        publication = make_publication(session, timezone="Pacific/Auckland")
        now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # already 3 March in New Zealand
        result = services.assemble_digest(session, publication, now=now)
        assert result.digest.edition_date == date(2026, 3, 3)
        assert result.digest.assembled_at == now


def test_snapshot_is_frozen(any_database: Database) -> None:
    """Editing or re-approving a briefing after assembly changes neither the edition nor
    what it renders, and the briefing does not come back in a later edition."""
    with any_database.session() as session:
        make_publication(session)
        briefing = make_briefing(session, slug="story", title="Original title")
        briefing_id = briefing.id
    with any_database.session() as session:
        digest_id = assemble(session).id
    with any_database.session() as session:
        briefing = session.get_one(Briefing, briefing_id)
        number = add_revision(
            session, briefing, briefing_content(slug="story", title="Rewritten title")
        )
        briefing.approved_revision = number
        briefing.approved_at = T0 + timedelta(minutes=30)
        # Even an in-place change of the stored revision must not reach the edition.
        first = session.scalars(select(BriefingRevision).where(BriefingRevision.number == 1)).one()
        first.content = {**first.content, "title": "Tampered"}
    with any_database.session() as session:
        digest = services.render_digest(session, digest_id)
        assert [item.title for item in digest.items] == ["Original title"]
        assert digest.items[0].revision == 1
        assert "Original title" in (digest.text or "")
        assert "Rewritten title" not in (digest.html or "")
        assert "Original title" in (digest.web_html or "")
        later = assemble(session, DAY + timedelta(days=1))
        assert later.state is DigestState.SKIPPED


class _FirstLookupMisses:
    """Make the first ``find_digest`` miss, as if another process inserted concurrently."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.real = services.find_digest
        monkeypatch.setattr(services, "find_digest", self)

    def __call__(self, *args: Any) -> Digest | None:
        self.calls += 1
        return None if self.calls == 1 else self.real(*args)


def test_losing_the_race_returns_the_winners_digest(
    any_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When another process stored the edition first, the unique key refuses ours and the
    stored one is returned; the session stays usable."""
    with any_database.session() as session:
        make_publication(session)
        make_briefing(session, slug="story")
    with any_database.session() as session:
        winner = assemble(session).id
    lookups = _FirstLookupMisses(monkeypatch)
    with any_database.session() as session:
        publication = get_publication(session, "morning")
        result = services.assemble_digest(session, publication, DAY, now=NOW)
        assert (result.created, result.digest.id) == (False, winner)
        assert lookups.calls == 2
        assert len(session.scalars(select(Digest)).all()) == 1


def _with_taken_briefing(monkeypatch: pytest.MonkeyPatch, taken_id: int, times: int) -> None:
    """Make the candidate query also offer a briefing another edition already holds."""
    real = services._candidates

    calls = {"n": 0}

    def candidates(session: Session, publication: Publication, cutoff: datetime) -> Any:
        found = real(session, publication, cutoff)
        calls["n"] += 1
        if calls["n"] <= times:
            revision = session.scalars(
                select(BriefingRevision).where(BriefingRevision.briefing_id == taken_id)
            ).first()
            assert revision is not None
            content = revision.parsed()
            found[taken_id] = (
                services.Candidate(taken_id, revision.number, 99, T0, content.topic_names),
                content,
                T0,
            )
        return found

    monkeypatch.setattr(services, "_candidates", candidates)


def test_briefing_taken_concurrently_by_another_date_is_retried(
    any_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If another edition took a briefing meanwhile, assembly retries without it."""
    with any_database.session() as session:
        make_publication(session)
        taken = make_briefing(session, slug="taken").id
    with any_database.session() as session:
        assert slugs(assemble(session)) == ["taken"]
        make_briefing(session, slug="fresh")
    _with_taken_briefing(monkeypatch, taken, times=1)
    with any_database.session() as session:
        later = assemble(session, DAY + timedelta(days=1))
        assert slugs(later) == ["fresh"]


def test_persistent_conflict_is_raised(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A conflict that survives the retry is raised, not hidden."""
    with database.session() as session:
        make_publication(session)
        taken = make_briefing(session, slug="taken").id
    with database.session() as session:
        assemble(session)
    _with_taken_briefing(monkeypatch, taken, times=2)
    with database.session() as session, pytest.raises(IntegrityError):
        assemble(session, DAY + timedelta(days=1))


def test_render_stores_email_text_and_page_once(any_database: Database) -> None:
    """Rendering fills the rendered fields and moves to RENDERED; rendering again is a no-op."""
    with any_database.session() as session:
        make_publication(session, name="The <Morning> Test")
        make_briefings(session, 2, title="Tom & Jerry <b>")
        digest_id = assemble(session).id
    with any_database.session() as session:
        digest = services.render_digest(session, digest_id)
        assert digest.state is DigestState.RENDERED
        assert digest.subject
        assert digest.html is not None
        assert digest.html.lower().startswith("<!doctype html>")
        assert digest.html_bytes == len(digest.html.encode())
        assert "Tom &amp; Jerry &lt;b&gt;" in digest.html
        assert "Tom & Jerry <b>" in (digest.text or "")
        assert "Tom &amp; Jerry &lt;b&gt;" in (digest.web_html or "")
        assert digest.notes == []
        rendered_at = digest.rendered_at
    with any_database.session() as session:
        again = services.render_digest(session, digest_id)
        assert again.rendered_at == rendered_at


def test_later_states_are_not_rendered_again(database: Database) -> None:
    """A digest already past rendering is returned unchanged."""
    with database.session() as session:
        make_publication(session)
        make_briefing(session, slug="story")
        digest = services.render_digest(session, assemble(session).id)
        transition(digest, DigestState.SENDING)
        html = digest.html
        assert services.render_digest(session, digest.id).html == html
        assert digest.state is DigestState.SENDING


def test_skipped_and_cancelled_digests_are_never_rendered(database: Database) -> None:
    """A skipped edition (and a cancelled one) refuses to render; nothing is stored."""
    with database.session() as session:
        make_publication(session)
        skipped = assemble(session)
        with pytest.raises(TransitionError, match=r"was skipped \(no approved briefings\)"):
            services.render_digest(session, skipped.id)
        assert skipped.html is None
        make_briefing(session, slug="story")
        cancelled = assemble(session, DAY + timedelta(days=1))
        transition(cancelled, DigestState.CANCELLED)
        with pytest.raises(TransitionError, match="cannot go from cancelled to rendered"):
            services.render_digest(session, cancelled.id)
        assert cancelled.html is None


def test_unknown_digest_is_not_found(database: Database) -> None:
    """Rendering or fetching an unknown id raises NotFoundError."""
    with database.session() as session:
        with pytest.raises(NotFoundError, match="unknown digest 42"):
            services.render_digest(session, 42)
        with pytest.raises(NotFoundError, match="unknown digest 42"):
            services.get_digest(session, 42)


def test_archive_lists_rendered_editions_newest_first(database: Database) -> None:
    """The archive index lists rendered editions only, newest first, with their sizes."""
    with database.session() as session:
        publication = make_publication(session, max_briefings=2)
        make_briefings(session, 3)
        one = services.render_digest(session, assemble(session).id)
        two = services.render_digest(session, assemble(session, DAY + timedelta(days=1)).id)
        assemble(session, DAY + timedelta(days=2))  # skipped: not in the archive
        assert services.get_digest(session, one.id) is one
        entries = services.archive_entries(session, publication)
        assert [(e.edition_date, e.briefing_count) for e in entries] == [
            (DAY + timedelta(days=1), 1),
            (DAY, 2),
        ]
        assert entries[0].title == two.subject
        assert entries[1].url == "https://news.example.org/p/morning/2026-03-02/"
        page = services.render_archive(session, publication)
        assert "https://news.example.org/p/morning/2026-03-03/" in page
        listed = services.list_digests(session, publication)
        assert [d.edition_date.day for d in listed] == [4, 3, 2]


def test_send_time_default_cut_off_is_recorded(database: Database) -> None:
    """The digest records its cut-off (send time on its date, as UTC)."""
    with database.session() as session:
        make_publication(session, send_time=time(9, 15))
        digest = assemble(session)
        assert digest.cutoff_at == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


def test_next_edition_follows_the_publication_schedule(database: Database) -> None:
    """The next edition honours the publication's send time, zone and weekdays."""
    with database.session() as session:
        publication = make_publication(session, weekdays=["sat"], timezone="Europe/London")
        wednesday = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
        assert services.next_edition(publication, wednesday) == date(2026, 3, 7)
        assert services.next_edition(publication) >= date(2026, 3, 7)
