"""The digest email in headless Chromium: phone and desktop widths.

Screenshots are written to ``test-artifacts/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import pytest

from newsletter.render.email import render_email
from newsletter.render.web import render_edition_page
from tests import services
from tests.fixtures.editions import long_edition, sample_edition

pytestmark = pytest.mark.browser


def _load(browser: object, html: str, width: int, shot: str, *, full: bool = True) -> object:
    page = browser.new_page(viewport={"width": width, "height": 800})  # type: ignore[attr-defined]
    # No network: the email must render from its own HTML alone.
    page.route("**/*", lambda route: route.abort())
    page.set_content(html, wait_until="load")
    services.screenshot(page, shot, full=full)
    return page


@pytest.mark.parametrize("width", [375, 800])
def test_email_fits_the_width_and_shows_every_title(browser: object, width: int) -> None:
    """At 375 and 800 px nothing scrolls sideways and every briefing title is visible."""
    edition = sample_edition()
    page = _load(browser, render_email(edition).html, width, f"email-{width}.png")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert scroll_width <= width
    for item in edition.items:
        heading = page.locator(f"h2#{item.content.slug}")  # type: ignore[attr-defined]
        assert heading.is_visible()
        assert heading.inner_text() == item.content.title
        box = heading.bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
    page.close()  # type: ignore[attr-defined]


def test_phone_layout_is_a_single_column(browser: object) -> None:
    """On a phone the content column spans the screen and long editions still fit."""
    email = render_email(long_edition(3))
    page = _load(browser, email.html, 375, "email-long-375.png", full=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # type: ignore[attr-defined]
    lefts = page.evaluate(  # type: ignore[attr-defined]
        "[...document.querySelectorAll('h2')].map(h => h.getBoundingClientRect().left)"
    )
    assert len(set(lefts)) == 1
    page.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [375, 1000])
def test_archive_page_fits_the_width(browser: object, width: int) -> None:
    """The web archive page does not scroll sideways on a phone or a desktop."""
    page = _load(browser, render_edition_page(sample_edition()), width, f"archive-{width}.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # type: ignore[attr-defined]
    assert page.locator("article.briefing").count() == 3  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]
