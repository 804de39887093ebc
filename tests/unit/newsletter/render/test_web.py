"""The web archive: edition page, index of editions and the briefing fragment."""

from __future__ import annotations

from datetime import date
from html.parser import HTMLParser

import pytest

from newsletter.errors import InvalidInputError
from newsletter.render.web import (
    ArchiveEntry,
    render_archive_index,
    render_briefing_fragment,
    render_briefing_page,
    render_edition_page,
    render_topic_page,
    render_topics_index,
)
from tests.fixtures.editions import (
    hostile_edition,
    make_content,
    make_edition,
    make_item,
    make_publication,
    sample_edition,
)
from tests.golden import assert_golden

FEEDS = "https://news.example.org/p/morning-brief/feeds/briefings/"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def _entries() -> list[ArchiveEntry]:
    return [
        ArchiveEntry(
            date(2026, 3, 4), "Trams & heat", "https://news.example.org/p/m/2026-03-04/", 3
        ),
        ArchiveEntry(date(2026, 3, 3), "One story", "https://news.example.org/p/m/2026-03-03/", 1),
    ]


def test_golden_edition_page_and_index() -> None:
    """The fixed edition's page and an index render exactly as their golden files."""
    edition = sample_edition()
    assert_golden("web/edition.html", render_edition_page(edition))
    assert_golden("web/index.html", render_archive_index(edition.publication, _entries()))


def test_edition_page_is_standalone_html5_with_feed_discovery() -> None:
    """The page is HTML5 with lang, its own CSS, no external resources and feed links."""
    html = render_edition_page(sample_edition(language="de"))
    assert html.startswith("<!doctype html>")
    tags = _parse(html).tags
    assert ("html", {"lang": "de", "dir": "ltr"}) in tags
    links = [a for t, a in tags if t == "link" and a["rel"] == "alternate"]
    alternates = [(a["type"], a["href"]) for a in links]
    editions = FEEDS.replace("/briefings/", "/editions/")
    assert alternates == [
        ("application/rss+xml", FEEDS + "rss.xml"),
        ("application/atom+xml", FEEDS + "atom.xml"),
        ("application/feed+json", FEEDS + "feed.json"),
        ("application/rss+xml", editions + "rss.xml"),
        ("application/atom+xml", editions + "atom.xml"),
        ("application/feed+json", editions + "feed.json"),
    ]
    assert not [t for t, a in tags if t == "script" or (t == "link" and a["rel"] == "stylesheet")]
    assert "<style>" in html
    assert "prefers-color-scheme: dark" in html


def test_edition_page_shows_every_briefing_with_anchor() -> None:
    """Each briefing is an article whose id is the anchor the email links to."""
    edition = sample_edition()
    html = render_edition_page(edition)
    for item in edition.items:
        assert f'<article class="briefing" id="{item.content.slug}">' in html
        assert f'href="#{item.content.slug}"' in html
    assert "Wednesday 4 March 2026" in html


def test_hostile_text_is_escaped_on_the_web() -> None:
    """Markup in briefings and names is shown as text, never run."""
    html = render_edition_page(hostile_edition())
    page = _parse(html)
    assert "script" not in [tag for tag, _ in page.tags]
    assert "img" not in [tag for tag, _ in page.tags]
    visible = "".join(page.text)
    assert '<script>alert("x")</script> Tom & Jerry\'s "café" in Zürich' in visible
    assert "Ελλάδα & Co" in visible


def test_index_lists_editions_in_the_given_order() -> None:
    """The index links every edition with its date, title and briefing count."""
    html = render_archive_index(make_publication(), _entries())
    assert html.index("2026-03-04") < html.index("2026-03-03")
    assert "Trams &amp; heat" in html
    assert "3 briefings" in html
    assert "1 briefing<" in html
    empty = render_archive_index(make_publication(logo_url="https://x.example/l.png"), [])
    assert "No editions yet." in empty
    assert 'alt="The Morning Brief"' in empty


def test_briefing_fragment_is_one_article() -> None:
    """The fragment is one <article> for one item of the edition, with its source link."""
    edition = sample_edition()
    fragment = render_briefing_fragment(edition, edition.items[0])
    assert fragment.startswith('<article class="briefing" id="tram-line-vote">')
    assert fragment.rstrip().endswith("</article>")
    assert 'href="https://news.example.org/stories/tram-vote"' in fragment
    assert 'title="Edinburgh is the capital city of Scotland."' in fragment


def test_fragment_of_a_foreign_item_is_refused() -> None:
    """Asking for a briefing that is not in the edition fails naming it."""
    edition = make_edition([make_content()])
    stranger = make_item(make_content("other-story"), 5)
    with pytest.raises(InvalidInputError, match="other-story"):
        render_briefing_fragment(edition, stranger)


def test_every_archive_page_offers_the_sign_up_form() -> None:
    """Edition, index, briefing, topics and topic pages link to the publication's form.

    Before, a reader who found the archive had no way to subscribe from it.
    """
    edition = sample_edition()
    pub = edition.publication
    pages = {
        "edition": render_edition_page(edition),
        "index": render_archive_index(pub, _entries()),
        "briefing": render_briefing_page(edition, edition.items[0]),
        "topics": render_topics_index(pub, [("Science", "science")]),
        "topic": render_topic_page(pub, "Science", "science", []),
    }
    form = "https://news.example.org/subscribe/morning-brief"
    for name, html in pages.items():
        hrefs = [a.get("href") for t, a in _parse(html).tags if t == "a"]
        assert hrefs.count(form) == 2, name  # under the masthead and in the footer
