"""Public pages, feeds and error pages in every language.

The pseudo-locale test renders every public page template (archive pages, the home
page, the error page; the subscriber pages are in ``tests/unit/subscribers``) and the
feeds' titles: a word left outside the ``⟦…⟧`` marks was never marked for translation.
Each shipped language then renders every page, in its words, dates and direction.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from babel.dates import get_day_names, get_month_names
from pydantic import BaseModel

from newsletter import i18n
from newsletter.content.edition import (
    Cadence,
    CorrectionNote,
    CorrectionNotice,
    Edition,
    ItemStatus,
)
from newsletter.digests.models import DigestVariant
from newsletter.digests.variant_pages import render_variant_page
from newsletter.digests.views import home_page
from newsletter.feeds.catalog import Source, all_feeds
from newsletter.render.web import (
    FEED_TYPES,
    ArchiveEntry,
    BriefingEntry,
    render_archive_index,
    render_briefing_page,
    render_edition_page,
    render_topic_page,
    render_topics_index,
)
from newsletter.web.pages import render_page
from tests.fixtures.editions import sample_edition
from tests.pseudo import english_left
from tests.unit.newsletter.feeds.conftest import CREATED_AT, published

AT = datetime(2026, 3, 3, 18, 0, tzinfo=UTC)
SLOT = "evening"
# Names nobody translates: the feed formats, and the months and days CLDR writes.
PROPER_NAMES = (*tuple(label for label, _type, _fmt in FEED_TYPES), "OPML")
CLDR_WORDS = tuple(get_month_names("wide", locale="en").values()) + tuple(
    get_day_names("wide", locale="en").values()
)


def _strings(value: object) -> Iterator[str]:
    """Every string inside ``value`` (dataclasses, sequences, mappings): the test's data."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _strings(getattr(value, field.name))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _strings(getattr(value, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item)


def edition() -> Edition:
    """The sample edition with a dated correction note, a "Corrections" block and a
    withdrawn briefing."""
    base = sample_edition()
    notice = CorrectionNotice(
        kind="correction",
        slug=base.items[0].content.slug,
        title=base.items[0].content.title,
        note="The vote was 38 to 21.",
        at=AT,
        url="https://news.example.org/p/morning-brief/briefings/tram-line-vote/",
    )
    items = list(base.items)
    items[0] = replace(items[0], corrections=(CorrectionNote(at=AT, note="Vote count fixed."),))
    items[1] = replace(items[1], status=ItemStatus.WITHDRAWN, updated_at=AT)
    return replace(base, items=tuple(items), corrections=(notice,))


def variant(topics: list[str]) -> DigestVariant:
    """A topic variant of the edition carrying its second and first briefings."""
    return DigestVariant(key="2-1", positions=[2, 1], topics=topics)


def entries() -> list[ArchiveEntry]:
    """One archive line of each kind: a daily edition, a slot's, a roundup, an alert."""
    url = "https://news.example.org/p/morning-brief/"
    return [
        ArchiveEntry(date(2026, 3, 4), "Tram vote", url + "2026-03-04/", 3),
        ArchiveEntry(date(2026, 3, 4), "Late news", url + "2026-03-04/evening/", 1, slot=SLOT),
        ArchiveEntry(date(2026, 3, 1), "The week", url + "w/2026-03-01/", 9, weekly=True),
        ArchiveEntry(date(2026, 2, 28), "Storm", url + "alerts/9/", 1, alert=True),
    ]


def home_publications() -> list[dict[str, object]]:
    """The home page's publications (as ``home_html`` builds them)."""
    feeds = [(label, media, f"/p/morning-brief/{fmt}") for label, media, fmt in FEED_TYPES]
    return [
        {
            "name": "The Morning Brief",
            "tagline": "What happened, why it matters",
            "archive": "/p/morning-brief/",
            "subscribe": "/subscribe/morning-brief",
            "briefings": feeds,
            "editions": feeds,
            "topics": "/p/morning-brief/topics/",
            "opml": "/p/morning-brief/feeds.opml",
            "latest": date(2026, 3, 4),
        }
    ]


@pytest.fixture
def source() -> Source:
    """Every feed of the sample publication (published)."""
    sample = published(sample_edition())
    return Source(publication=sample.publication, editions=(sample,), created_at=CREATED_AT)


def public_pages(language: str) -> dict[str, str]:
    """Every public page template that needs no database, rendered in ``language``."""
    full = edition()
    pub = full.publication
    weekly = replace(full, cadence=Cadence.WEEKLY)
    topic = BriefingEntry("A briefing", "https://news.example.org/b/", date(2026, 3, 4), "/e/")
    lang = {"language": language}
    return {
        "edition": render_edition_page(full, **lang),
        "slot-edition": render_edition_page(replace(full, slot=SLOT), **lang),
        "weekly": render_edition_page(weekly, **lang),
        "alert": render_edition_page(
            replace(full, cadence=Cadence.ALERT, slot="9", items=full.items[:1]), **lang
        ),
        "briefing": render_briefing_page(full, full.items[0], **lang),
        "withdrawn": render_briefing_page(full, full.items[1], **lang),
        "index": render_archive_index(pub, entries(), **lang),
        "index-empty": render_archive_index(pub, [], **lang),
        "topics": render_topics_index(pub, [("Climate", "climate")], **lang),
        "topics-empty": render_topics_index(pub, [], **lang),
        "topic": render_topic_page(pub, "Climate", "climate", [topic], **lang),
        "topic-empty": render_topic_page(pub, "Climate", "climate", [], **lang),
        "variant": render_variant_page(full, variant(["Climate"]), **lang),
        "variant-all-topics": render_variant_page(full, variant([]), **lang),
        "variant-weekly": render_variant_page(weekly, variant(["Climate"]), **lang),
        "variant-weekly-all": render_variant_page(weekly, variant([]), **lang),
        "home": home_page(home_publications(), **lang),
        "home-empty": home_page([], **lang),
        "error": render_page(
            "error.html",
            language=language,
            page_title=i18n.gettext_for(language, "Page not found"),
            message=i18n.gettext_for(
                language, "This address does not accept that kind of request."
            ),
            code=404,
        ).body.decode(),
    }


def page_data() -> list[str]:
    """Everything the pages show that the test supplied rather than the templates."""
    return [
        *_strings(edition()),
        *_strings(entries()),
        *_strings(home_publications()),
        "Climate",
        "A briefing",
        "newsletter publications load FILE",
        SLOT.capitalize(),
        *PROPER_NAMES,
        *CLDR_WORDS,
    ]


@pytest.mark.parametrize("name", sorted(public_pages(i18n.DEFAULT_LANGUAGE)))
def test_pseudo_locale_leaves_no_english_on_a_public_page(name: str) -> None:
    """Every word of every public page is marked for translation (or is the test's data)."""
    html = public_pages(i18n.PSEUDO)[name]
    assert "⟦" in html
    assert english_left(html, data=page_data(), html=True) == []


def test_pseudo_locale_leaves_no_english_in_feed_titles(source: Source) -> None:
    """Feed titles, descriptions and entry titles and categories are all translated."""
    pub = replace(source.publication, language=i18n.PSEUDO)
    editions = tuple(replace(each, publication=pub) for each in source.editions)
    weekly = replace(editions[0], cadence=Cadence.WEEKLY)
    alert = replace(editions[0], cadence=Cadence.ALERT, slot="7", items=editions[0].items[:1])
    pseudo = replace(source, publication=pub, editions=(*editions, weekly, alert))
    data = [*_strings(pseudo.editions), *_strings(pub), *CLDR_WORDS]
    texts = []
    for feed in all_feeds(pseudo):
        texts += [feed.spec.title, feed.spec.description]
        for entry in feed.entries:
            texts += [entry.title, *entry.categories, entry.content_html]
    left = [english_left(text, data=data, html=True) for text in texts]
    assert [words for words in left if words] == []


@pytest.mark.parametrize("language", i18n.SHIPPED)
def test_every_shipped_language_renders_every_public_page(language: str) -> None:
    """Each page says which language and direction it is in and carries its words."""
    direction = i18n.direction(language)
    for name, html in public_pages(language).items():
        assert f'<html lang="{language}" dir="{direction}">' in html, name
        if language != i18n.DEFAULT_LANGUAGE:
            assert "⟦" not in html, name


@pytest.mark.parametrize(
    ("language", "heading", "date_label", "count"),
    [
        ("de", "Was hinter der Schlagzeile steckt", "Mittwoch, 4. März 2026", "3 Briefings"),
        ("fr", "Derrière le titre", "mercredi 4 mars 2026", "3 briefings"),
        ("es", "Lo que hay detrás del titular", "miércoles, 4 de marzo de 2026", "3 informes"),
        ("ar", "ما وراء العنوان", "الأربعاء، 4 مارس 2026", "3 إحاطات"),
        ("ko", "헤드라인 뒤의 이야기", "2026년 3월 4일 수요일", "브리핑 3건"),
    ],
)
def test_translations_and_locale_dates(
    language: str, heading: str, date_label: str, count: str
) -> None:
    """Spot checks: a section heading, the long date and a plural count in each language."""
    pages = public_pages(language)
    assert heading in pages["edition"]
    assert date_label in pages["edition"]
    assert date_label in pages["index"]
    assert count in pages["index"]


def test_english_pages_read_as_before() -> None:
    """The source language keeps its words, plurals and house date style."""
    pages = public_pages("en")
    assert "Wednesday 4 March 2026" in pages["edition"]
    assert "3 briefings" in pages["index"]
    assert "1 briefing<" in pages["index"]
    assert "From this edition: 2 of 3 briefings, on Climate." in pages["variant"]
    assert '<html lang="en" dir="ltr">' in pages["error"]


def test_arabic_pages_are_right_to_left() -> None:
    """An Arabic publication's pages say rtl on <html>; its dates are CLDR's."""
    full = sample_edition(language="ar")
    html = render_edition_page(full)
    assert '<html lang="ar" dir="rtl">' in html
    assert "الأربعاء، 4 مارس 2026" in html


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("de", "Ausgaben"),
        ("fr", "éditions"),
        ("es", "ediciones"),
        ("ar", "الأعداد"),
        ("ko", "전체 호"),
    ],
)
def test_feeds_carry_their_language(source: Source, language: str, words: str) -> None:
    """RSS <language>, Atom xml:lang and JSON Feed ``language`` name the publication's
    language, and the feed's title is in it."""
    pub = replace(source.publication, language=language)
    editions = tuple(replace(each, publication=pub) for each in source.editions)
    feed = list(all_feeds(replace(source, publication=pub, editions=editions)))[1]
    assert words in feed.spec.title
    assert f"<language>{language}</language>" in feed.render("rss").decode()
    assert f'xml:lang="{language}"' in feed.render("atom").decode()
    assert json.loads(feed.render("json"))["language"] == language
