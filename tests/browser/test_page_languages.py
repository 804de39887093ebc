"""Arabic (right to left) and Korean (CJK) public pages in headless Chromium.

The archive pages and the subscriber pages of an Arabic and a Korean publication, at a
phone's 375 px and 800 px: screenshots go to ``test-artifacts/`` (git-ignored) for a
person to look at; the pages do not scroll sideways, Arabic lays out right to left
(lists indented and notes ruled on the right), Korean breaks lines between words; and
they pass axe-core and the Nu HTML Checker like the English pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import checkers, services
from tests.browser import documents
from tests.unit.subscribers.test_page_languages import served_pages

pytestmark = pytest.mark.browser

LANGUAGES = ("ar", "ko")
SUBSCRIBER_PAGES = ("subscribe", "subscribe-refused", "preferences-paused", "unsubscribe-kind")


def subscriber_pages(data_dir: Path, language: str) -> dict[str, str]:
    """A few subscriber pages of a publication in ``language``, as served."""
    pages = served_pages(data_dir, language)
    return {name: pages[name] for name in SUBSCRIBER_PAGES}


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """ "<language>-<page>" -> HTML, for the archive and subscriber pages of each language."""
    found: dict[str, str] = {}
    for language in LANGUAGES:
        archive = documents.archive_pages(language)
        found.update({f"{language}-{name}": html for name, html in archive.items()})
        served = subscriber_pages(tmp_path_factory.mktemp(f"served-{language}"), language)
        found.update({f"{language}-{name}": html for name, html in served.items()})
    return found


@pytest.mark.parametrize("width", [375, 800])
def test_rtl_and_cjk_pages_fit_and_flow(browser: Any, pages: dict[str, str], width: int) -> None:
    """No sideways scrolling; Arabic runs right to left, Korean keeps its words whole."""
    for name, html in pages.items():
        page = browser.new_page(viewport={"width": width, "height": 800})
        page.route("**/*", lambda route: route.abort())
        page.set_content(html, wait_until="load")
        services.screenshot(page, f"lang-{name}-{width}.png", full=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
        style = "getComputedStyle(document.body)"
        if name.startswith("ar-"):
            assert page.evaluate(f"{style}.direction") == "rtl", name
        else:
            assert page.evaluate(f"{style}.wordBreak") == "keep-all", name
        page.close()


def test_arabic_layout_is_mirrored(browser: Any, pages: dict[str, str]) -> None:
    """The contents list is indented and the correction note ruled on the right."""
    page = browser.new_page(viewport={"width": 800, "height": 800})
    page.set_content(pages["ar-edition"], wait_until="load")
    contents = page.evaluate(
        "(() => { const s = getComputedStyle(document.querySelector('.contents'));"
        " return [s.paddingLeft, s.paddingRight]; })()"
    )
    rule = page.evaluate(
        "(() => { const s = getComputedStyle(document.querySelector('.corrections'));"
        " return [s.borderLeftWidth, s.borderRightWidth]; })()"
    )
    page.close()
    assert contents[0] == "0px"
    assert contents[1] != "0px"
    assert rule == ["0px", "4px"]


def test_rtl_and_cjk_pages_pass_axe(browser: Any, pages: dict[str, str]) -> None:
    """The Arabic and Korean pages have no axe-core violation."""
    problems = checkers.axe_check(browser, pages, "light")
    assert not problems, problems


def test_rtl_and_cjk_pages_pass_the_nu_html_checker(pages: dict[str, str]) -> None:
    """The Arabic and Korean pages are valid HTML to the Nu HTML Checker."""
    problems = checkers.nu_check(pages)
    assert not problems, problems
