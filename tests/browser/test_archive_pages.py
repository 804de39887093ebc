"""The briefing, topic and topics pages in headless Chromium: phone and desktop widths,
light and dark, with corrections, a withdrawal notice and a long topic name.

Screenshots are written to ``test-artifacts/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import pytest

from tests import services
from tests.browser.documents import archive_pages

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 1000])
def test_public_pages_fit_the_width(browser: object, width: int, scheme: str) -> None:
    """No page scrolls sideways on a phone or a desktop, in light or dark mode."""
    for name, html in archive_pages().items():
        page = browser.new_page(  # type: ignore[attr-defined]
            viewport={"width": width, "height": 800}, color_scheme=scheme
        )
        page.route("**/*", lambda route: route.abort())
        page.set_content(html, wait_until="load")
        services.screenshot(page, f"archive-{name}-{width}-{scheme}.png", full=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
        page.close()
