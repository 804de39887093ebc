"""The briefing, topic and topics pages in headless Chromium: phone and desktop widths,
light and dark, with corrections, a withdrawal notice and a long topic name.

Screenshots are written to ``test-artifacts/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from newsletter.content.edition import CorrectionNote, CorrectionNotice, ItemStatus
from newsletter.render.web import (
    BriefingEntry,
    render_briefing_page,
    render_edition_page,
    render_topic_page,
    render_topics_index,
)
from tests import services
from tests.fixtures.editions import make_publication, sample_edition

pytestmark = pytest.mark.browser

AT = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
LONG_TOPIC = "Supercalifragilisticexpialidocious-infrastructure-procurement-rules" * 2


def _pages() -> dict[str, str]:
    edition = replace(
        sample_edition(),
        topic_slugs=(("Edinburgh", "edinburgh"), ("Public transport", "public-transport")),
        corrections=(
            CorrectionNotice(
                kind="correction",
                slug="tram-line-vote",
                title="City council backs the harbour tram extension",
                note="The vote was 38 to 21, not 39 to 20.",
                at=AT,
                url="https://news.example.org/p/morning-brief/briefings/tram-line-vote/",
            ),
        ),
    )
    items = list(edition.items)
    items[0] = replace(items[0], corrections=(CorrectionNote(at=AT, note="Vote count fixed."),))
    items[1] = replace(items[1], status=ItemStatus.WITHDRAWN, updated_at=AT)
    edition = replace(edition, items=tuple(items))
    pub = make_publication()
    entry = BriefingEntry(
        "A briefing", "https://news.example.org/b/", date(2026, 3, 4), "https://x.example/"
    )
    return {
        "edition": render_edition_page(edition),
        "briefing": render_briefing_page(edition, edition.items[0]),
        "withdrawn": render_briefing_page(edition, edition.items[1]),
        "topics": render_topics_index(pub, [(LONG_TOPIC, "long"), ("Climate", "climate")]),
        "topic": render_topic_page(pub, LONG_TOPIC, "long", [entry]),
    }


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 1000])
def test_public_pages_fit_the_width(browser: object, width: int, scheme: str) -> None:
    """No page scrolls sideways on a phone or a desktop, in light or dark mode."""
    for name, html in _pages().items():
        page = browser.new_page(  # type: ignore[attr-defined]
            viewport={"width": width, "height": 800}, color_scheme=scheme
        )
        page.route("**/*", lambda route: route.abort())
        page.set_content(html, wait_until="load")
        services.screenshot(page, f"archive-{name}-{width}-{scheme}.png", full=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
        page.close()
