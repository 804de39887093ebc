"""Choosing which approved briefings go into an edition: a pure function on plain values.

The digest service loads the candidates (approved briefings not yet in any edition
of the publication) and stores the result; the rules live here so they can be
tested without a database.

Embargo and expiry are judged at the edition's cut-off (when it is due): a briefing
still under embargo then waits for a later edition, and one expired by then is never
chosen. Both are reported in the selection (``embargoed``, ``expired``) and neither
counts as rolled over.

A weekly roundup (``select_roundup``) follows its own rule: the week's most important
briefings, by priority then recency, at most the publication's ``weekly_max``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NO_APPROVED = "no approved briefings"
NO_MATCHING_TOPICS = "no approved briefings on this publication's topics"
ALL_EMBARGOED = "every approved briefing on this publication's topics is under embargo or expired"
NO_WEEK = "no briefings approved in the week before the roundup"

# A roundup looks back this far from its cut-off.
ROUNDUP_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Candidate:
    """An approved briefing revision that could go into an edition."""

    briefing_id: int
    revision: int
    priority: int
    approved_at: datetime
    topics: tuple[str, ...]
    embargo: datetime | None = None
    expires: datetime | None = None

    def embargoed(self, at: datetime) -> bool:
        """Whether the briefing is still under embargo at ``at``."""
        return self.embargo is not None and at < self.embargo

    def expired(self, at: datetime) -> bool:
        """Whether the briefing has expired by ``at``."""
        return self.expires is not None and at >= self.expires


@dataclass(frozen=True)
class Selection:
    """The briefings an edition holds, in order, and what was left out and why."""

    chosen: tuple[Candidate, ...]
    rolled_over: tuple[Candidate, ...]
    skip_reason: str | None
    embargoed: tuple[Candidate, ...] = ()
    expired: tuple[Candidate, ...] = ()


def cutoff_at(edition_date: date, send_time: time, timezone: str) -> datetime:
    """The edition's cut-off: its send time on its date, in the publication's zone, as UTC."""
    local = datetime.combine(edition_date, send_time, tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


def local_today(now: datetime, timezone: str) -> date:
    """The date it is at ``now`` in the publication's time zone."""
    return now.astimezone(ZoneInfo(timezone)).date()


def next_edition_date(
    now: datetime, send_time: time, timezone: str, weekdays: Collection[int]
) -> date:
    """The next edition still to come: the first send day whose cut-off is after ``now``.

    ``weekdays`` are ``date.weekday()`` numbers (Monday is 0); none means every day.
    """
    if not set(weekdays) <= set(range(7)):
        raise ValueError(f"weekday numbers run from 0 to 6, got {sorted(weekdays)}")

    def upcoming(day: date) -> bool:
        on_send_day = not weekdays or day.weekday() in weekdays
        return on_send_day and cutoff_at(day, send_time, timezone) > now

    day = local_today(now, timezone)
    while not upcoming(day):
        day += timedelta(days=1)
    return day


def matches_topics(candidate: Candidate, topics: Iterable[str]) -> bool:
    """Whether a briefing covers one of the topics (case-insensitive); no topics means all."""
    wanted = {topic.casefold() for topic in topics}
    return not wanted or any(topic.casefold() in wanted for topic in candidate.topics)


def _order(candidate: Candidate) -> tuple[int, datetime, int]:
    return (-candidate.priority, candidate.approved_at, candidate.briefing_id)


def select_briefings(
    candidates: Iterable[Candidate], *, topics: Sequence[str], cap: int, cutoff: datetime
) -> Selection:
    """Pick the edition's briefings: approved before the cut-off, on topic, ordered, capped.

    Order is priority (highest first), then approval time (oldest first), then id,
    so the result does not depend on the order of ``candidates``. Briefings beyond
    the cap are returned as ``rolled_over``: they wait for the next edition. Those
    under embargo at the cut-off wait too (``embargoed``); those expired by then are
    left out for good (``expired``).
    """
    if cap < 1:
        raise ValueError("an edition holds at least one briefing")
    in_time = [c for c in candidates if c.approved_at < cutoff]
    if not in_time:
        return Selection((), (), NO_APPROVED)
    on_topic = sorted((c for c in in_time if matches_topics(c, topics)), key=_order)
    if not on_topic:
        return Selection((), (), NO_MATCHING_TOPICS)
    embargoed = tuple(c for c in on_topic if c.embargoed(cutoff))
    expired = tuple(c for c in on_topic if c.expired(cutoff))
    held = {c.briefing_id for c in embargoed + expired}
    ready = [c for c in on_topic if c.briefing_id not in held]
    reason = None if ready else ALL_EMBARGOED
    return Selection(tuple(ready[:cap]), tuple(ready[cap:]), reason, embargoed, expired)


def _roundup_order(candidate: Candidate) -> tuple[int, float, int]:
    return (-candidate.priority, -candidate.approved_at.timestamp(), candidate.briefing_id)


def select_roundup(
    candidates: Iterable[Candidate], *, topics: Sequence[str], cap: int, cutoff: datetime
) -> Selection:
    """Pick a weekly roundup's briefings: the week's most important, on topic, capped.

    The rule: a briefing is in the week when it was approved in the seven days
    before the cut-off (``cutoff - 7 days <= approved_at < cutoff``; the service
    passes the time the publication first approved it for its editions, so a later
    correction does not bring an old briefing back). Briefings under embargo or
    expired at the cut-off are left out (``embargoed``, ``expired``). The rest are
    ordered by priority (highest first), then recency (newest approval first), then
    id, and the first ``cap`` are chosen; those beyond the cap are ``rolled_over``
    (left out of this roundup; a later one takes them only while still in its week).
    """
    if cap < 1:
        raise ValueError("a roundup holds at least one briefing")
    week = [c for c in candidates if cutoff - ROUNDUP_WINDOW <= c.approved_at < cutoff]
    if not week:
        return Selection((), (), NO_WEEK)
    on_topic = sorted((c for c in week if matches_topics(c, topics)), key=_roundup_order)
    if not on_topic:
        return Selection((), (), NO_MATCHING_TOPICS)
    embargoed = tuple(c for c in on_topic if c.embargoed(cutoff))
    expired = tuple(c for c in on_topic if c.expired(cutoff))
    held = {c.briefing_id for c in embargoed + expired}
    ready = [c for c in on_topic if c.briefing_id not in held]
    reason = None if ready else ALL_EMBARGOED
    return Selection(tuple(ready[:cap]), tuple(ready[cap:]), reason, embargoed, expired)
