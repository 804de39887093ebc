"""Pure edition selection: cut-off, topics, order, cap and roll-over, skip reasons."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.digests.assembly import (
    ALL_EMBARGOED,
    NO_APPROVED,
    NO_MATCHING_TOPICS,
    Candidate,
    cutoff_at,
    local_today,
    matches_topics,
    next_edition_date,
    select_briefings,
)

T0 = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
CUTOFF = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def cand(
    briefing_id: int, *, priority: int = 0, minutes: int = 0, topics: tuple[str, ...] = ()
) -> Candidate:
    """A candidate approved ``minutes`` after T0."""
    return Candidate(
        briefing_id=briefing_id,
        revision=1,
        priority=priority,
        approved_at=T0 + timedelta(minutes=minutes),
        topics=topics,
    )


def ids(candidates: tuple[Candidate, ...]) -> list[int]:
    """The briefing ids, in order."""
    return [c.briefing_id for c in candidates]


def test_order_is_priority_then_approval_time_then_id() -> None:
    """Higher priority first; equal priority by earlier approval; then by id."""
    candidates = [
        cand(1, priority=0, minutes=1),
        cand(2, priority=5, minutes=9),
        cand(3, priority=0, minutes=0),
        cand(5, priority=0, minutes=4),
        cand(4, priority=0, minutes=4),
        cand(6, priority=-3, minutes=0),
    ]
    result = select_briefings(candidates, topics=[], cap=10, cutoff=CUTOFF)
    assert ids(result.chosen) == [2, 3, 1, 4, 5, 6]
    assert result.rolled_over == ()
    assert result.skip_reason is None


def test_cap_keeps_the_first_and_rolls_over_the_rest() -> None:
    """Only ``cap`` briefings are chosen; the others roll over, in order."""
    candidates = [cand(i, minutes=i) for i in range(1, 6)]
    result = select_briefings(candidates, topics=[], cap=2, cutoff=CUTOFF)
    assert ids(result.chosen) == [1, 2]
    assert ids(result.rolled_over) == [3, 4, 5]


def test_cut_off_excludes_briefings_approved_at_or_after_it() -> None:
    """A briefing approved at or after the cut-off waits for the next edition (not rolled over)."""
    candidates = [
        cand(1, minutes=119),  # 06:59
        cand(2, minutes=120),  # 07:00, the cut-off itself
        cand(3, minutes=300),
    ]
    result = select_briefings(candidates, topics=[], cap=10, cutoff=CUTOFF)
    assert ids(result.chosen) == [1]
    assert result.rolled_over == ()


def test_topics_match_case_insensitively() -> None:
    """A publication's topics match briefing topics regardless of case."""
    assert matches_topics(cand(1, topics=("Climate", "Energy")), ["energy"])
    assert not matches_topics(cand(1, topics=("Climate",)), ["Sport"])
    assert not matches_topics(cand(1, topics=()), ["Sport"])
    assert matches_topics(cand(1, topics=()), [])


def test_topic_filter_applies_before_the_cap() -> None:
    """Off-topic briefings never take a place in the edition."""
    candidates = [
        cand(1, priority=9, topics=("Sport",)),
        cand(2, topics=("POLITICS",)),
        cand(3, topics=("Science", "politics")),
    ]
    result = select_briefings(candidates, topics=["Politics"], cap=1, cutoff=CUTOFF)
    assert ids(result.chosen) == [2]
    assert ids(result.rolled_over) == [3]


def test_no_candidates_skips_with_reason() -> None:
    """With nothing approved before the cut-off the edition is skipped: no approved briefings."""
    assert select_briefings([], topics=[], cap=3, cutoff=CUTOFF).skip_reason == NO_APPROVED
    late = [cand(1, minutes=500)]
    assert select_briefings(late, topics=[], cap=3, cutoff=CUTOFF).skip_reason == NO_APPROVED


def test_only_off_topic_candidates_skip_with_topic_reason() -> None:
    """With approved briefings but none on topic, the reason says so."""
    result = select_briefings([cand(1, topics=("Sport",))], topics=["Arts"], cap=3, cutoff=CUTOFF)
    assert result == type(result)((), (), NO_MATCHING_TOPICS)


def test_cap_must_be_positive() -> None:
    """A cap below one is a programming error."""
    with pytest.raises(ValueError, match="at least one"):
        select_briefings([cand(1)], topics=[], cap=0, cutoff=CUTOFF)


@given(
    st.lists(st.tuples(st.integers(-100, 100), st.integers(0, 600)), min_size=0, max_size=30),
    st.integers(1, 12),
    st.randoms(use_true_random=False),
)
def test_selection_is_independent_of_input_order(
    raw: list[tuple[int, int]], cap: int, rng: random.Random
) -> None:
    """Shuffling the candidates never changes what is chosen or rolled over."""
    candidates = [cand(i, priority=p, minutes=m) for i, (p, m) in enumerate(raw)]
    expected = select_briefings(candidates, topics=[], cap=cap, cutoff=CUTOFF)
    shuffled = list(candidates)
    rng.shuffle(shuffled)
    assert select_briefings(shuffled, topics=[], cap=cap, cutoff=CUTOFF) == expected
    in_time = [c for c in candidates if c.approved_at < CUTOFF]
    assert len(expected.chosen) == min(cap, len(in_time))
    assert len(expected.chosen) + len(expected.rolled_over) == len(in_time)


def test_cut_off_is_send_time_in_the_publication_zone() -> None:
    """The cut-off is the local send time on the edition date, expressed in UTC."""
    assert cutoff_at(date(2026, 1, 15), time(7, 0), "Europe/London") == datetime(
        2026, 1, 15, 7, 0, tzinfo=UTC
    )
    # British Summer Time: 07:00 local is 06:00 UTC.
    assert cutoff_at(date(2026, 7, 15), time(7, 0), "Europe/London") == datetime(
        2026, 7, 15, 6, 0, tzinfo=UTC
    )
    assert cutoff_at(date(2026, 7, 15), time(7, 30), "America/New_York") == datetime(
        2026, 7, 15, 11, 30, tzinfo=UTC
    )


def test_local_today_uses_the_publication_zone() -> None:
    """Just after midnight UTC it is still yesterday in New York and already today in Tokyo."""
    now = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
    assert local_today(now, "America/New_York") == date(2026, 3, 1)
    assert local_today(now, "Asia/Tokyo") == date(2026, 3, 2)
    assert local_today(now, "UTC") == date(2026, 3, 2)


def test_next_edition_is_today_until_the_cut_off() -> None:
    """Before the send time the next edition is today's; from the send time on, the next day's."""
    seven = time(7, 0)
    before = datetime(2026, 3, 4, 6, 59, tzinfo=UTC)  # a Wednesday
    at = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)
    assert next_edition_date(before, seven, "UTC", set()) == date(2026, 3, 4)
    assert next_edition_date(at, seven, "UTC", set()) == date(2026, 3, 5)


def test_next_edition_skips_days_without_a_send() -> None:
    """The next edition falls on one of the publication's send days."""
    friday_noon = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    weekdays = {0, 1, 2, 3, 4}
    assert next_edition_date(friday_noon, time(7, 0), "UTC", weekdays) == date(2026, 3, 9)
    # In Sydney it is already Saturday 7 March at 23:00 local: Monday is next there too.
    assert next_edition_date(friday_noon, time(7, 0), "Australia/Sydney", weekdays) == date(
        2026, 3, 9
    )


def test_next_edition_refuses_impossible_weekdays() -> None:
    """Weekday numbers outside 0-6 are a programming error, not an endless search."""
    with pytest.raises(ValueError, match="0 to 6"):
        next_edition_date(T0, time(7, 0), "UTC", {7})


def timed(briefing_id: int, *, embargo: int | None = None, expires: int | None = None) -> Candidate:
    """A candidate with an embargo and an expiry ``embargo``/``expires`` minutes from CUTOFF."""
    return Candidate(
        briefing_id=briefing_id,
        revision=1,
        priority=0,
        approved_at=T0 + timedelta(minutes=briefing_id),
        topics=(),
        embargo=None if embargo is None else CUTOFF + timedelta(minutes=embargo),
        expires=None if expires is None else CUTOFF + timedelta(minutes=expires),
    )


def test_embargo_is_judged_at_the_cut_off() -> None:
    """Under embargo at the cut-off, a briefing waits; an embargo ending by then lets it go."""
    candidates = [timed(1, embargo=1), timed(2, embargo=0), timed(3, embargo=-60), timed(4)]
    result = select_briefings(candidates, topics=[], cap=10, cutoff=CUTOFF)
    assert ids(result.chosen) == [2, 3, 4]
    assert ids(result.embargoed) == [1]
    assert result.rolled_over == ()
    assert result.expired == ()


def test_expired_briefings_are_never_chosen() -> None:
    """A briefing expiring at or before the cut-off is left out; a later expiry goes."""
    candidates = [timed(1, expires=0), timed(2, expires=-5), timed(3, expires=1)]
    result = select_briefings(candidates, topics=[], cap=10, cutoff=CUTOFF)
    assert ids(result.chosen) == [3]
    assert ids(result.expired) == [1, 2]
    assert result.embargoed == ()


def test_embargoed_briefings_do_not_take_places_or_count_as_rolled_over() -> None:
    """The cap counts only briefings that may go out; embargoed ones are not rolled over."""
    candidates = [timed(1, embargo=30), timed(2), timed(3), timed(4, embargo=-1, expires=60)]
    result = select_briefings(candidates, topics=[], cap=2, cutoff=CUTOFF)
    assert ids(result.chosen) == [2, 3]
    assert ids(result.rolled_over) == [4]
    assert ids(result.embargoed) == [1]


def test_only_embargoed_or_expired_briefings_skip_with_their_reason() -> None:
    """An edition whose on-topic briefings are all embargoed or expired is skipped, saying so."""
    result = select_briefings(
        [timed(1, embargo=5), timed(2, expires=-5)], topics=[], cap=3, cutoff=CUTOFF
    )
    assert result.chosen == ()
    assert result.skip_reason == ALL_EMBARGOED
    assert (ids(result.embargoed), ids(result.expired)) == ([1], [2])


def test_embargoed_candidate_waits_for_a_later_edition() -> None:
    """An embargoed briefing is chosen by the first edition whose cut-off reaches its embargo."""
    waiting = timed(1, embargo=24 * 60)
    assert select_briefings([waiting], topics=[], cap=1, cutoff=CUTOFF).chosen == ()
    later = select_briefings([waiting], topics=[], cap=1, cutoff=CUTOFF + timedelta(days=1))
    assert ids(later.chosen) == [1]
