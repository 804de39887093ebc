"""Weekly roundups: the selection rule (pure), assembly beside daily editions, the preview,
the roundup's own page and its place in the archive."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.app.factory import create_app
from newsletter.briefings.models import Briefing, BriefingState
from newsletter.content.edition import Cadence
from newsletter.db import Database
from newsletter.digests import services
from newsletter.digests.assembly import (
    ALL_EMBARGOED,
    NO_MATCHING_TOPICS,
    NO_WEEK,
    ROUNDUP_WINDOW,
    Candidate,
    select_roundup,
)
from newsletter.digests.models import Digest, DigestItem, DigestState
from newsletter.digests.roundup import roundup_edition
from newsletter.digests.views import archive_html, edition_html
from newsletter.errors import NotFoundError
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.settings import Settings
from tests.factories import add_revision, briefing_content, make_briefing, make_publication

CUTOFF = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)  # Monday 9 March, 07:00 UTC
MONDAY = date(2026, 3, 9)
NOW = datetime(2026, 3, 9, 6, 0, tzinfo=UTC)


def cand(
    briefing_id: int,
    *,
    priority: int = 0,
    days_before: float = 1,
    topics: tuple[str, ...] = (),
    embargo: datetime | None = None,
    expires: datetime | None = None,
) -> Candidate:
    """A candidate approved ``days_before`` days before the cut-off."""
    return Candidate(
        briefing_id=briefing_id,
        revision=1,
        priority=priority,
        approved_at=CUTOFF - timedelta(days=days_before),
        topics=topics,
        embargo=embargo,
        expires=expires,
    )


def ids(candidates: tuple[Candidate, ...]) -> list[int]:
    """The briefing ids, in order."""
    return [c.briefing_id for c in candidates]


# --- the rule, on plain values -------------------------------------------------------


def test_priority_first_then_newest_first() -> None:
    """A roundup orders by priority (highest first), then by recency (newest approval first)."""
    chosen = select_roundup(
        [
            cand(1, priority=0, days_before=1),
            cand(2, priority=5, days_before=6),
            cand(3, priority=0, days_before=0.5),
            cand(4, priority=5, days_before=2),
        ],
        topics=[],
        cap=10,
        cutoff=CUTOFF,
    )
    assert ids(chosen.chosen) == [4, 2, 3, 1]
    assert chosen.skip_reason is None


def test_only_the_seven_days_before_the_cut_off_count() -> None:
    """Approved exactly 7 days before the cut-off is in; earlier, or at the cut-off, is out."""
    week_start = CUTOFF - ROUNDUP_WINDOW
    inside = Candidate(1, 1, 0, week_start, ())
    too_old = Candidate(2, 1, 9, week_start - timedelta(seconds=1), ())
    too_late = Candidate(3, 1, 9, CUTOFF, ())
    chosen = select_roundup([inside, too_old, too_late], topics=[], cap=5, cutoff=CUTOFF)
    assert ids(chosen.chosen) == [1]
    nothing = select_roundup([too_old, too_late], topics=[], cap=5, cutoff=CUTOFF)
    assert (nothing.chosen, nothing.skip_reason) == ((), NO_WEEK)


def test_cap_and_the_rest_left_out() -> None:
    """At most ``cap`` briefings; the rest are reported as rolled over, in order."""
    chosen = select_roundup(
        [cand(n, priority=n) for n in range(1, 6)], topics=[], cap=2, cutoff=CUTOFF
    )
    assert ids(chosen.chosen) == [5, 4]
    assert ids(chosen.rolled_over) == [3, 2, 1]


def test_topics_embargo_and_expiry() -> None:
    """Off-topic briefings are out; embargoed or expired at the cut-off are left out, reported."""
    later = CUTOFF + timedelta(hours=1)
    chosen = select_roundup(
        [
            cand(1, topics=("Climate",)),
            cand(2, topics=("Sport",)),
            cand(3, topics=("climate",), embargo=later),
            cand(4, topics=("Climate",), expires=CUTOFF - timedelta(hours=1)),
        ],
        topics=["climate"],
        cap=5,
        cutoff=CUTOFF,
    )
    assert ids(chosen.chosen) == [1]
    assert (ids(chosen.embargoed), ids(chosen.expired)) == ([3], [4])
    off_topic = select_roundup(
        [cand(2, topics=("Sport",))], topics=["climate"], cap=5, cutoff=CUTOFF
    )
    assert off_topic.skip_reason == NO_MATCHING_TOPICS
    held = select_roundup([cand(3, embargo=later)], topics=[], cap=5, cutoff=CUTOFF)
    assert held.skip_reason == ALL_EMBARGOED


def test_a_roundup_holds_at_least_one() -> None:
    """A cap below one is a programming error, refused."""
    with pytest.raises(ValueError, match="at least one"):
        select_roundup([], topics=[], cap=0, cutoff=CUTOFF)


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.floats(0, 9, allow_nan=False)), min_size=0, max_size=12
    ),
    st.integers(1, 6),
)
def test_the_rule_does_not_depend_on_input_order(raw: list[tuple[int, float]], cap: int) -> None:
    """Shuffling the candidates never changes the roundup (ties broken by id)."""
    candidates = [cand(n, priority=p, days_before=d) for n, (p, d) in enumerate(raw, start=1)]
    first = select_roundup(candidates, topics=[], cap=cap, cutoff=CUTOFF)
    random.Random(len(raw)).shuffle(candidates)
    assert select_roundup(candidates, topics=[], cap=cap, cutoff=CUTOFF) == first
    assert len(first.chosen) <= cap


# --- assembly against the database ---------------------------------------------------


def weekly_publication(session: Session, **overrides: object) -> Publication:
    """Publication 'morning' (UTC, 07:00) offering a Monday roundup of at most 3."""
    publication = make_publication(session, **overrides)
    publication.weekly_days = ["mon"]
    publication.weekly_max = 3
    session.flush()
    return publication


def at(days_before: float) -> datetime:
    """An approval time ``days_before`` days before Monday's cut-off."""
    return CUTOFF - timedelta(days=days_before)


def roundup(session: Session, day: date = MONDAY) -> Digest:
    """Assemble (or find) the weekly roundup of ``day``."""
    publication = get_publication(session, "morning")
    return services.assemble_digest(
        session, publication, day, now=NOW, cadence=Cadence.WEEKLY
    ).digest


def slugs(digest: Digest) -> list[str]:
    """The briefing slugs of a digest's snapshot, in order."""
    return [item.content["slug"] for item in digest.items]


def test_roundup_takes_the_weeks_most_important_and_daily_editions_keep_theirs(
    any_database: Database,
) -> None:
    """A roundup carries briefings daily editions carried, frozen as weekly items; the
    daily editions assembled after it still get every briefing too."""
    with any_database.session() as session:
        weekly_publication(session)
        make_briefing(session, slug="old", priority=9, approved_at=at(8))
        make_briefing(session, slug="minor", priority=0, approved_at=at(1))
        make_briefing(session, slug="major", priority=5, approved_at=at(3))
        make_briefing(session, slug="fresh", priority=5, approved_at=at(2))
        make_briefing(session, slug="small", priority=1, approved_at=at(4))
    with any_database.session() as session:
        daily = services.assemble_digest(
            session, get_publication(session, "morning"), date(2026, 3, 8), now=NOW
        ).digest
        assert slugs(daily) == ["old", "major", "fresh", "small"]  # approved by Sunday 07:00
        weekly = roundup(session)
        assert weekly.cadence is Cadence.WEEKLY
        assert slugs(weekly) == ["fresh", "major", "small"]  # "old" is out of the week
        assert weekly.rolled_over == 1  # "minor": over the cap of 3
        assert {item.cadence for item in weekly.items} == {Cadence.WEEKLY}
        assert weekly.cutoff_at == CUTOFF
        # The daily edition of the same date is another digest and still gets "minor".
        monday = services.assemble_digest(
            session, get_publication(session, "morning"), MONDAY, now=NOW
        ).digest
        assert monday.id != weekly.id
        assert slugs(monday) == ["minor"]
        assert services.find_digest(session, monday.publication_id, MONDAY) is monday
        found = services.find_digest(session, monday.publication_id, MONDAY, Cadence.WEEKLY)
        assert found is weekly


def test_assembling_twice_finds_the_same_roundup(any_database: Database) -> None:
    """The (publication, date, cadence) key makes a second assembly return the first."""
    with any_database.session() as session:
        weekly_publication(session)
        make_briefing(session, slug="one", approved_at=at(1))
    with any_database.session() as session:
        first = roundup(session)
    with any_database.session() as session:
        again = services.assemble_digest(
            session, get_publication(session, "morning"), MONDAY, now=NOW, cadence=Cadence.WEEKLY
        )
        assert (again.created, again.digest.id) == (False, first.id)
        count = session.scalar(select(func.count()).select_from(Digest))
        assert count == 1


def test_no_briefing_is_in_two_roundups(database: Database) -> None:
    """Overlapping weeks (Monday and Thursday roundups) never repeat a briefing."""
    with database.session() as session:
        weekly_publication(session).weekly_days = ["mon", "thu"]
        make_briefing(session, slug="early", approved_at=at(2))
        make_briefing(session, slug="later", approved_at=at(-1))  # Tuesday
    with database.session() as session:
        assert slugs(roundup(session)) == ["early"]
        thursday = roundup(session, date(2026, 3, 12))
        assert slugs(thursday) == ["later"]


def test_gone_briefings_are_not_rounded_up(database: Database) -> None:
    """Withdrawn, taken-down and expired briefings stay out of a roundup."""
    with database.session() as session:
        weekly_publication(session)
        make_briefing(session, slug="live", approved_at=at(1))
        make_briefing(
            session,
            slug="withdrawn",
            approved_at=at(1),
            state=BriefingState.WITHDRAWN,
            approved_revision=None,
        )
        make_briefing(session, slug="removed", approved_at=at(1)).taken_down_at = at(0.5)
        make_briefing(session, slug="expired", approved_at=at(1)).expired_at = at(0.5)
    with database.session() as session:
        assert slugs(roundup(session)) == ["live"]


def test_a_correction_does_not_bring_an_old_briefing_back(database: Database) -> None:
    """The week is judged by the first approval the publication's daily edition froze:
    a briefing from last month corrected yesterday is not this week's news."""
    with database.session() as session:
        weekly_publication(session)
        make_briefing(session, slug="old-story", approved_at=at(20))
    with database.session() as session:
        services.assemble_digest(
            session, get_publication(session, "morning"), date(2026, 2, 18), now=NOW
        )
        briefing = session.scalars(select(Briefing)).one()
        number = add_revision(session, briefing, briefing_content(slug="old-story", title="Fixed"))
        briefing.approved_revision = number
        briefing.approved_at = at(1)
        make_briefing(session, slug="this-week", approved_at=at(2))
    with database.session() as session:
        assert slugs(roundup(session)) == ["this-week"]


def test_nothing_in_the_week_skips_the_roundup(database: Database) -> None:
    """A week without briefings gives a skipped roundup, saying why."""
    with database.session() as session:
        weekly_publication(session)
        make_briefing(session, slug="old", approved_at=at(9))
    with database.session() as session:
        digest = roundup(session)
        assert (digest.state, digest.skip_reason) == (DigestState.SKIPPED, NO_WEEK)


def test_roundup_edition_previews_without_freezing(database: Database) -> None:
    """The preview shows the roundup a weekly reader would get, and leaves nothing behind."""
    with database.session() as session:
        weekly_publication(session)
        make_briefing(session, slug="low", priority=0, approved_at=at(1))
        make_briefing(session, slug="high", priority=3, approved_at=at(2))
    with database.session() as session:
        publication = get_publication(session, "morning")
        edition = roundup_edition(session, publication, MONDAY, now=NOW)
        assert edition is not None
        assert edition.cadence is Cadence.WEEKLY
        assert [item.content.slug for item in edition.items] == ["high", "low"]
        assert session.scalar(select(func.count()).select_from(Digest)) == 0
        assert session.scalar(select(func.count()).select_from(DigestItem)) == 0
        assert roundup_edition(session, publication, MONDAY + timedelta(days=14), now=NOW) is None
        stored = roundup(session)
        again = roundup_edition(session, publication, MONDAY, now=NOW)
        assert again is not None
        assert again.id == stored.id


# --- the page and the archive --------------------------------------------------------


def publish_both(database: Database) -> None:
    """Publish Monday's daily edition and Monday's roundup (different briefings)."""
    with database.session() as session:
        weekly_publication(session)
        make_briefing(session, slug="last-week", title="Rates <held>", approved_at=at(3))
        make_briefing(session, slug="monday-news", title="Monday news", approved_at=at(0.1))
    with database.session() as session:
        publication = get_publication(session, "morning")
        services.assemble_digest(session, publication, date(2026, 3, 6), now=NOW)
        weekly = roundup(session)
        monday = services.assemble_digest(session, publication, MONDAY, now=NOW).digest
        for digest in (weekly, monday):
            services.publish_digest(session, digest.id, now=NOW)


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    """The web app over a publication with a published daily edition and roundup."""
    publish_both(database)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_roundup_has_its_own_page(client: TestClient) -> None:
    """/p/<slug>/weekly/<date>/ shows the roundup, marked as one; the daily page of the
    same date shows the daily edition."""
    weekly = client.get("/p/morning/weekly/2026-03-09/")
    assert weekly.status_code == 200
    assert "Weekly roundup" in weekly.text
    assert "Rates &lt;held&gt;" in weekly.text
    assert (
        '<link rel="canonical" href="https://news.example.org/p/morning/weekly/2026-03-09/">'
        in (weekly.text)
    )
    daily = client.get("/p/morning/2026-03-09/")
    assert daily.status_code == 200
    assert "Monday news" in daily.text
    assert "Weekly roundup" not in daily.text
    assert client.get("/p/morning/weekly/2026-03-16/").status_code == 404
    assert client.get("/p/morning/weekly/not-a-date/").status_code == 404


def test_archive_lists_the_roundup_marked_weekly(database: Database) -> None:
    """The archive index links the roundup's own page and marks it as a weekly roundup."""
    publish_both(database)
    with database.session() as session:
        page = archive_html(session, "morning")
        with pytest.raises(NotFoundError, match="weekly roundup"):
            edition_html(session, "morning", date(2026, 3, 2), Cadence.WEEKLY)
    assert 'href="https://news.example.org/p/morning/weekly/2026-03-09/"' in page
    assert 'href="https://news.example.org/p/morning/2026-03-09/"' in page
    assert page.count("Weekly roundup") == 1
