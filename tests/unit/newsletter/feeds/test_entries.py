"""Feed entries: only published editions, stable ids, snapshot content, order and limits."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

import pytest

from newsletter.content.briefing import Topic
from newsletter.content.edition import Edition, ItemStatus
from newsletter.errors import InvalidInputError
from newsletter.feeds.entries import (
    absolute_links,
    briefing_entry,
    edition_entry,
    entries_for_briefings,
    entries_for_editions,
    entries_for_topic,
    published,
    topic_slug,
    topics_of,
)
from newsletter.render.web import render_briefing_fragment
from tests.fixtures.editions import make_content, make_edition, sample_edition
from tests.unit.newsletter.feeds.conftest import (
    PUBLISHED_AT,
    edition_on,
    many_editions,
    unicode_content,
)

BASE = "https://news.example.org/p/morning-brief"
PAGE = f"{BASE}/2026-03-04/"


def test_topic_slug_is_ascii_and_stable_even_without_ascii_letters() -> None:
    """Topic slugs come from the name; a name with no ASCII letters gets a stable hash slug."""
    assert topic_slug("Public transport") == "public-transport"
    assert topic_slug("Café & Straße") == "cafe-and-strasse"
    tokyo = topic_slug("東京")
    assert tokyo.startswith("topic-")
    assert tokyo.isascii()
    assert topic_slug(" 東京 ") == tokyo
    assert topic_slug("大阪") != tokyo


def test_unpublished_editions_give_no_entries_anywhere() -> None:
    """A briefing in an edition without ``published_at`` appears in no feed."""
    draft = sample_edition()
    assert draft.published_at is None
    assert entries_for_briefings([draft]) == []
    assert entries_for_editions([draft]) == []
    assert entries_for_topic([draft], "edinburgh") == []
    assert topics_of([draft]) == {}
    with pytest.raises(InvalidInputError, match="not published"):
        briefing_entry(draft, draft.items[0])
    with pytest.raises(InvalidInputError, match="not published"):
        edition_entry(draft)


def test_published_editions_come_newest_first() -> None:
    """Editions are ordered by publication time, newest first, and drafts dropped."""
    old = edition_on(date(2026, 3, 1), make_content("a"))
    new = edition_on(date(2026, 3, 2), make_content("b"))
    assert published([old, sample_edition(), new]) == [new, old]


def test_briefing_entry_comes_from_the_snapshot(sample: Edition) -> None:
    """A briefing entry has the archive anchor as id, its own page as link, the edition's
    date as published and its approval as updated, the same HTML as the web page, the
    lede as summary and the topics as categories."""
    item = sample.items[0]
    entry = briefing_entry(sample, item)
    assert entry.id == f"{BASE}/2026-03-04/#tram-line-vote"
    assert entry.url == f"{BASE}/briefings/tram-line-vote/"
    assert entry.title == item.content.title
    assert entry.content_html == absolute_links(render_briefing_fragment(sample, item), PAGE)
    assert entry.summary.startswith("Councillors voted 38 to 21")
    assert entry.published == PUBLISHED_AT
    assert entry.updated == item.approved_at < PUBLISHED_AT
    assert entry.categories == ("Edinburgh", "Public transport")
    assert entry.external_url == "https://news.example.org/stories/tram-vote"


def test_briefing_entries_follow_edition_then_position(sample: Edition) -> None:
    """The briefings feed lists the newest edition first, each in its running order."""
    later = edition_on(date(2026, 3, 5), make_content("late-one"), make_content("late-two"))
    slugs = [e.id.rsplit("#", 1)[1] for e in entries_for_briefings([sample, later])]
    assert slugs == [
        "late-one",
        "late-two",
        "tram-line-vote",
        "heatwave-southern-europe",
        "chipmaker-results",
    ]


def test_entries_are_limited_to_fifty_by_default() -> None:
    """Feeds hold the latest 50 entries unless asked otherwise, and refuse a limit below 1."""
    editions = many_editions(30, per_day=2)
    entries = entries_for_briefings(editions)
    assert len(entries) == 50
    assert entries[0].id.endswith("/2026-01-30/#story-29-0")
    assert len(entries_for_editions(editions, limit=7)) == 7
    assert len(entries_for_editions(editions)) == 30
    with pytest.raises(InvalidInputError, match="feed limit must be at least 1, got 0"):
        entries_for_briefings(editions, limit=0)


def test_ids_never_change_between_builds(sample: Edition) -> None:
    """Building twice gives equal entries; a briefing has one id in every feed."""
    first = entries_for_briefings([sample])
    assert first == entries_for_briefings([sample])
    topic = entries_for_topic([sample], "edinburgh")
    assert [e.id for e in topic] == [first[0].id]


def test_edition_entry_holds_the_whole_digest(sample: Edition) -> None:
    """An edition entry links to the edition page and carries every briefing in order."""
    entry = edition_entry(sample)
    assert entry.id == entry.url == f"{BASE}/2026-03-04/"
    assert entry.title == "The Morning Brief: Wednesday 4 March 2026"
    fragments = [
        absolute_links(render_briefing_fragment(sample, item), PAGE) for item in sample.items
    ]
    assert entry.content_html == "\n".join(fragments)
    assert entry.summary.split(" · ")[0] == sample.items[0].content.title
    assert entry.categories[:2] == ("Edinburgh", "Public transport")
    assert len(entry.categories) == len(set(entry.categories))
    assert entry.published == PUBLISHED_AT


def test_empty_editions_give_no_edition_entry() -> None:
    """A published edition without briefings is left out of the editions feed."""
    empty = replace(edition_on(date(2026, 3, 1), make_content("x")), items=())
    assert entries_for_editions([empty]) == []


def test_topic_entries_match_by_slug(sample: Edition) -> None:
    """A topic feed holds the briefings tagged with that topic, and nothing for others."""
    spain = entries_for_topic([sample], "spain")
    assert [e.title for e in spain] == ["Early heatwave grips southern Europe"]
    assert entries_for_topic([sample], "atlantis") == []


def test_topics_of_lists_published_topics_by_slug() -> None:
    """Topics are collected from published editions, keyed by slug, newest spelling first."""
    old = edition_on(date(2026, 3, 1), make_content("a", topics=(Topic(name="climate"),)))
    new = edition_on(date(2026, 3, 2), make_content("b", topics=(Topic(name="Climate"),)))
    tokyo = edition_on(date(2026, 2, 1), unicode_content())
    topics = topics_of([old, new, tokyo, make_edition([make_content("c")])])
    assert topics["climate"] == "Climate"
    assert topics[topic_slug("東京")] == "東京"
    assert topics["cafe-and-strasse"] == "Café & Straße"
    assert list(topics) == sorted(topics)


def test_absolute_links_resolve_against_the_archive_page() -> None:
    """Relative hrefs and srcs resolve like on the archive page; absolute ones and
    escaped characters stay as they were; text that mentions href is left alone."""
    fragment = (
        '<a href="#story">x</a> <img src="../logo.png" alt="">'
        ' <a href="https://example.org/a?b=1&amp;c=&#34;2&#34;">y</a>'
        " <p>href=&#34;#text&#34;</p>"
    )
    assert absolute_links(fragment, PAGE) == (
        f'<a href="{PAGE}#story">x</a> <img src="{BASE}/logo.png" alt="">'
        ' <a href="https://example.org/a?b=1&amp;c=&#34;2&#34;">y</a>'
        " <p>href=&#34;#text&#34;</p>"
    )


def test_entry_content_has_no_relative_links(sample: Edition) -> None:
    """Feed readers resolve links against the feed URL, so every link in entry content
    is absolute, and a briefing's heading links to its own entry URL."""
    entries = [*entries_for_briefings([sample]), *entries_for_editions([sample])]
    for entry in entries:
        hrefs = re.findall(r'(?:href|src)="([^"]*)"', entry.content_html)
        assert hrefs
        assert all(href.startswith("https://") for href in hrefs), hrefs
    first = entries[0]
    assert f'<a href="{first.url}">' in first.content_html


def _with_item(edition: Edition, index: int, **changes: object) -> Edition:
    items = list(edition.items)
    items[index] = replace(items[index], **changes)  # type: ignore[arg-type]
    return replace(edition, items=tuple(items))


def test_briefings_no_longer_live_leave_briefing_and_topic_feeds(sample: Edition) -> None:
    """Withdrawn, expired and taken-down briefings give no briefing or topic entry; the
    edition entry keeps a fragment for each, and neither their title nor topics."""
    for status in (ItemStatus.WITHDRAWN, ItemStatus.EXPIRED, ItemStatus.TAKEN_DOWN):
        changed = _with_item(sample, 0, status=status, updated_at=PUBLISHED_AT + timedelta(days=1))
        ids = [e.id.rsplit("#", 1)[1] for e in entries_for_briefings([changed])]
        assert ids == ["heatwave-southern-europe", "chipmaker-results"]
        assert entries_for_topic([changed], "public-transport") == []
        assert "public-transport" not in topics_of([changed])
        whole = edition_entry(changed)
        assert whole.content_html.count("<article") == 3
        assert "Councillors voted" not in whole.content_html  # the notice, not the text
        assert sample.items[0].content.title not in whole.summary
        assert "Public transport" not in whole.categories
        assert whole.updated == PUBLISHED_AT + timedelta(days=1)


def test_a_correction_dates_its_entry_and_keeps_its_id(sample: Edition) -> None:
    """A corrected briefing keeps its id and published date; updated is the correction."""
    at = PUBLISHED_AT + timedelta(hours=5)
    corrected = _with_item(sample, 0, updated_at=at)
    before, after = (
        briefing_entry(sample, sample.items[0]),
        briefing_entry(corrected, corrected.items[0]),
    )
    assert after.id == before.id
    assert after.published == before.published == PUBLISHED_AT
    assert after.updated == at > before.updated


def test_each_briefing_is_dated_by_its_approval_capped_by_publication(sample: Edition) -> None:
    """Briefings of one edition approved at different times get distinct ``updated``
    dates (no shared date); an approval after publication is capped by it."""
    hour = timedelta(hours=1)
    edition = sample
    for index in range(len(sample.items)):
        edition = _with_item(edition, index, approved_at=PUBLISHED_AT - (index + 1) * hour)
    dates = [e.updated for e in entries_for_briefings([edition])]
    assert len(set(dates)) == 3
    assert all(date_ < PUBLISHED_AT for date_ in dates)
    late = _with_item(sample, 0, approved_at=PUBLISHED_AT + hour)
    assert briefing_entry(late, late.items[0]).updated == PUBLISHED_AT


def test_topic_entries_use_the_editions_registered_slugs() -> None:
    """C++, C# and C are three topics when the edition carries the registry's slugs."""
    names = ("C++", "C#", "C")
    contents = [make_content(f"s{n}", topics=(Topic(name=name),)) for n, name in enumerate(names)]
    edition = replace(
        edition_on(date(2026, 3, 5), *contents),
        topic_slugs=(("C++", "c-plus-plus"), ("C#", "c-sharp"), ("C", "c")),
    )
    assert topics_of([edition]) == {"c": "C", "c-plus-plus": "C++", "c-sharp": "C#"}
    for slug, story in (("c-plus-plus", "s0"), ("c-sharp", "s1"), ("c", "s2")):
        assert [e.id.rsplit("#", 1)[1] for e in entries_for_topic([edition], slug)] == [story]
