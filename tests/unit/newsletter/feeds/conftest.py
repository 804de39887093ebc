"""Published editions and feed sources for the feed tests (plain values, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from lxml import html as lxml_html  # type: ignore[import-untyped]

from newsletter.content.briefing import BriefingContent, Topic
from newsletter.content.edition import Edition
from newsletter.feeds.catalog import Source
from tests.fixtures.editions import make_content, make_edition, sample_edition

CREATED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PUBLISHED_AT = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)
HUB = "https://hub.example.net/"


def published(edition: Edition, at: datetime = PUBLISHED_AT) -> Edition:
    """The same edition, published at ``at``."""
    return replace(edition, published_at=at)


def unicode_content() -> BriefingContent:
    """A briefing whose text mixes markup characters with é, ß and 東京."""
    return make_content(
        "tokyo-strasse",
        title='Café <em>Straße</em> & "東京" <script>alert(1)</script>',
        lede=('Größe & Qualität: <b>東京</b> wins, 5 < 6 > 4 and it\'s "fine".',),
        topics=(Topic(name="東京"), Topic(name="Café & Straße")),
    )


def bold_content() -> BriefingContent:
    """A briefing whose plain text literally contains ``<b>bold</b>`` and an ampersand."""
    return make_content(
        "bold-text",
        title="Tags <b>stay</b> text",
        lede=("Prices rose & fell in March <b>bold</b>.",),
    )


def shown(detail: Any) -> str:
    """What a feed reader displays for a feedparser text construct (HTML is rendered)."""
    if detail.type == "text/html":
        text: str = lxml_html.fragment_fromstring(detail.value, create_parent="div").text_content()
        return text
    value: str = detail.value
    return value


def edition_on(day: date, *contents: BriefingContent, hours: int = 7) -> Edition:
    """A published edition of ``contents`` for ``day``, published that morning."""
    at = datetime(day.year, day.month, day.day, hours, tzinfo=UTC)
    return published(
        replace(make_edition(list(contents), edition_date=day), id=day.toordinal()), at
    )


def many_editions(days: int, per_day: int = 1) -> list[Edition]:
    """``days`` published editions of ``per_day`` distinct briefings each, oldest first."""
    start = date(2026, 1, 1)
    out = []
    for n in range(days):
        day = start + timedelta(days=n)
        contents = [make_content(f"story-{n}-{k}", title=f"Story {n}-{k}") for k in range(per_day)]
        out.append(edition_on(day, *contents))
    return out


@pytest.fixture
def sample() -> Edition:
    """The fixed three-briefing edition, published."""
    return published(sample_edition())


@pytest.fixture
def source(sample: Edition) -> Source:
    """Every feed of the sample publication, with a WebSub hub."""
    return Source(
        publication=sample.publication,
        editions=(sample,),
        created_at=CREATED_AT,
        hub_url=HUB,
    )
