"""What readers see after a correction, withdrawal or takedown; topic links; OPML; the
"Corrections" block in the email (HTML and text) and on the web page."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from newsletter.content.edition import CorrectionNote, CorrectionNotice, Edition, ItemStatus
from newsletter.render.email import render_email
from newsletter.render.opml import render_opml
from newsletter.render.web import (
    BriefingEntry,
    render_briefing_fragment,
    render_briefing_page,
    render_edition_page,
    render_topic_page,
    render_topics_index,
)
from tests.fixtures.editions import make_publication, sample_edition

# 23:30 UTC on 9 March is already 10 March in a zone ahead of UTC: dates are local.
AT = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
BASE = "https://news.example.org/p/morning-brief"
LEDE = "Councillors voted 38 to 21"


def _with_first(edition: Edition, **changes: object) -> Edition:
    items = list(edition.items)
    items[0] = replace(items[0], **changes)  # type: ignore[arg-type]
    return replace(edition, items=tuple(items))


def _fragment(edition: Edition) -> str:
    return render_briefing_fragment(edition, edition.items[0])


def test_a_corrected_briefing_shows_dated_notes_oldest_first() -> None:
    """A live briefing shows its text and, under it, each dated "Correction" note, escaped."""
    notes = (
        CorrectionNote(at=AT, note="The vote was 38 to 21, <not> 39 to 20."),
        CorrectionNote(at=datetime(2026, 3, 5, 8, tzinfo=UTC), note="Spelling of a name."),
    )
    edition = _with_first(sample_edition(timezone="Asia/Tokyo"), corrections=notes)
    html = _fragment(edition)
    assert LEDE in html
    assert html.index("Thursday 5 March 2026") < html.index("Tuesday 10 March 2026")
    assert '<time datetime="2026-03-09T23:30:00Z">Tuesday 10 March 2026</time>' in html
    assert "<strong>Correction</strong>" in html
    assert "&lt;not&gt; 39 to 20." in html
    assert html.index(LEDE) < html.index("Correction</strong>")


@pytest.mark.parametrize(
    ("status", "notice"),
    [
        (ItemStatus.WITHDRAWN, "This briefing was withdrawn on Monday 9 March 2026."),
        (ItemStatus.EXPIRED, "This briefing expired on Monday 9 March 2026."),
    ],
)
def test_withdrawn_or_expired_shows_a_dated_notice_instead_of_the_text(
    status: ItemStatus, notice: str
) -> None:
    """A withdrawn or expired briefing's text is replaced by a dated notice."""
    edition = _with_first(sample_edition(timezone="UTC"), status=status, updated_at=AT)
    html = _fragment(edition)
    assert notice in html
    assert LEDE not in html
    assert "Source:" not in html
    assert 'class="topics"' not in html
    assert "<h2>" in html  # the title stays, so readers know what was withdrawn


def test_a_notice_without_a_date_still_reads_well() -> None:
    """Without the time of the change the notice has no date."""
    edition = _with_first(sample_edition(), status=ItemStatus.WITHDRAWN)
    assert "This briefing was withdrawn.</p>" in _fragment(edition)


def test_a_taken_down_briefing_shows_only_that_it_was_removed() -> None:
    """Taken down: the removal notice, and no correction notes (they may quote the text)."""
    edition = _with_first(
        sample_edition(),
        status=ItemStatus.TAKEN_DOWN,
        corrections=(CorrectionNote(at=AT, note="Quoted claim fixed."),),
    )
    html = _fragment(edition)
    assert "This briefing has been removed." in html
    assert "Quoted claim" not in html
    assert LEDE not in html


def test_topic_names_link_to_their_page_when_they_have_a_slug() -> None:
    """Topics with a slug (under any spelling) link to their topic page; others stay text."""
    edition = replace(sample_edition(), topic_slugs=(("EDINBURGH ", "edinburgh-2"),))
    html = _fragment(edition)
    assert f'<a href="{BASE}/topics/edinburgh-2/">Edinburgh</a>' in html
    assert 'title="Buses, trams and trains.">Public transport</li>' in html


def test_the_heading_links_to_the_briefings_own_page() -> None:
    """The briefing's title links to its permanent page (what feed entries link to)."""
    assert f'<h2><a href="{BASE}/briefings/tram-line-vote/">' in _fragment(sample_edition())


def _notices() -> tuple[CorrectionNotice, ...]:
    return (
        CorrectionNotice(
            kind="withdrawal",
            slug="bad-story",
            title="Bad <story>",
            note="",
            at=AT,
            url=f"{BASE}/briefings/bad-story/",
        ),
        CorrectionNotice(
            kind="correction",
            slug="old-story",
            title="Old story & more",
            note="The figure was 12%, not 21%.",
            at=datetime(2026, 3, 8, 9, tzinfo=UTC),
            url=f"{BASE}/briefings/old-story/",
        ),
    )


def test_corrections_block_in_the_email_html_and_text() -> None:
    """The next edition's email lists each correction (title link, date, note), oldest first."""
    edition = replace(sample_edition(timezone="UTC"), corrections=_notices())
    email = render_email(edition)
    assert f'<a href="{BASE}/briefings/old-story/"' in email.html
    assert "Old story &amp; more" in email.html
    assert "Bad &lt;story&gt;" in email.html
    assert email.html.index("Old story") < email.html.index("Bad &lt;story")
    assert "(Correction, Sunday 8 March 2026)" in email.html
    assert "(Withdrawn, Monday 9 March 2026)" in email.html
    text = email.text
    assert "Corrections\n===========" in text
    assert "- Old story & more (Correction, Sunday 8 March 2026): The figure was 12%, not" in text
    assert f"  {BASE}/briefings/bad-story/" in text
    plain = render_email(sample_edition())
    assert "Corrections" not in plain.html
    assert "Corrections" not in plain.text


def test_corrections_block_on_the_edition_page() -> None:
    """The edition's web page carries the same block, with machine-readable dates."""
    html = render_edition_page(replace(sample_edition(timezone="UTC"), corrections=_notices()))
    assert '<h2 id="corrections">Corrections</h2>' in html
    assert f'<a href="{BASE}/briefings/bad-story/">Bad &lt;story&gt;</a>' in html
    assert '<time datetime="2026-03-08T09:00:00Z">Sunday 8 March 2026</time>' in html
    assert 'id="corrections"' not in render_edition_page(sample_edition())


def test_briefing_page_links_its_edition_and_advertises_the_briefings_feed() -> None:
    """A briefing's page: canonical permalink, its edition, the briefings feeds only."""
    edition = sample_edition()
    html = render_briefing_page(edition, edition.items[1])
    assert f'<link rel="canonical" href="{BASE}/briefings/heatwave-southern-europe/">' in html
    assert f'<a href="{BASE}/2026-03-04/">Wednesday 4 March 2026</a>' in html
    assert html.count('rel="alternate"') == 3
    assert "/feeds/editions/" not in html.split("</head>")[0]
    withdrawn = _with_first(edition, status=ItemStatus.WITHDRAWN)
    page = render_briefing_page(withdrawn, withdrawn.items[0])
    assert 'name="description"' not in page  # the description would quote the text
    assert LEDE not in page


def test_topic_pages_and_index_escape_names_and_say_when_empty() -> None:
    """Topic names are escaped; empty lists say so; a topic page advertises its feeds."""
    pub = make_publication()
    hostile = '<script>alert("x")</script>'
    index = render_topics_index(pub, [(hostile, "script-alert-x")])
    assert "<script>" not in index
    assert f"{BASE}/feeds/topics/script-alert-x/feed.json" in index
    assert "No topics yet." in render_topics_index(pub, [])
    entry = BriefingEntry(
        "A & B", f"{BASE}/briefings/a-b/", date(2026, 3, 4), f"{BASE}/2026-03-04/"
    )
    page = render_topic_page(pub, hostile, "script-alert-x", [entry])
    assert "<script>" not in page
    assert "A &amp; B" in page
    assert 'type="application/atom+xml" title="The Morning Brief: &lt;script&gt;' in page
    assert "No briefings on this topic yet." in render_topic_page(pub, "Empty", "empty", [])


def test_opml_is_valid_xml_whatever_the_names() -> None:
    """OPML escapes markup and quotes, drops characters XML cannot hold, and parses."""
    pub = make_publication(name='Tom & "Jerry" <news>\x01')
    text = render_opml(pub, [("C++ & <C#>\x0b", "c-plus-plus"), ("Zürich", "zurich")])
    root = ET.fromstring(text.encode())
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == 'Tom & "Jerry" <news>: feeds'
    outlines = [o for o in root.iter("outline") if o.get("type") == "rss"]
    assert [o.get("htmlUrl") for o in outlines][-1] == f"{BASE}/topics/zurich/"
    assert outlines[2].get("text") == 'Tom & "Jerry" <news>: C++ & <C#>'
    assert outlines[2].get("xmlUrl") == f"{BASE}/feeds/topics/c-plus-plus/rss.xml"
    assert {o.get("version") for o in outlines} == {"RSS"}  # the spec's value for RSS 2.0
    no_topics = ET.fromstring(render_opml(make_publication(), []).encode())
    assert len(list(no_topics.iter("outline"))) == 2


def test_email_topic_tags_link_to_their_pages() -> None:
    """In a new edition's email, topics with a slug link to their page; others stay text."""
    edition = replace(sample_edition(), topic_slugs=(("Edinburgh", "edinburgh"),))
    html = render_email(edition).html
    assert f'<a href="{BASE}/topics/edinburgh/"' in html
    assert ">Public transport</span>" in html


def test_the_page_description_never_quotes_a_withdrawn_briefing() -> None:
    """The edition page's description comes from the first briefing still shown."""
    edition = _with_first(sample_edition(), status=ItemStatus.WITHDRAWN, updated_at=AT)
    html = render_edition_page(edition)
    assert LEDE not in html
    assert '<meta name="description" content="Temperatures passed 40°C' in html
    items = tuple(replace(item, status=ItemStatus.EXPIRED) for item in edition.items)
    gone = render_edition_page(replace(edition, items=items))
    assert 'name="description"' not in gone
