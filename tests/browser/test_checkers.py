"""Emails and pages through third-party checkers: axe-core (light and dark) and Nu HTML Checker.

What is checked is listed in ``tests/browser/documents.py``: every email of ``EMAILS``,
the static archive's pages, and the app's public and editors' pages as served. axe-core
runs every rule of its default set (WCAG 2 A/AA and best practices) in headless
Chromium; the Nu HTML Checker checks the pages (not the emails: MJML's tables for
Outlook are HTML 4 by design) in one java run. A finding fails the test with the rule,
the element and the document it is in.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import checkers
from tests.browser import documents

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_pages(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, str]]:
    """The app's (public, editors') pages, rendered once for the module."""
    return documents.app_pages(tmp_path_factory.mktemp("checked-app"))


def _report(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{name}:\n  " + "\n  ".join(found) for name, found in problems.items())


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_emails_pass_axe(browser: Any, scheme: str) -> None:
    """Every email, in the light and the dark scheme, has no axe-core violation.

    All rules run but the two about a whole page's landmarks (``EMAIL_RULES_OFF``).
    """
    problems = checkers.axe_check(
        browser, documents.emails(), scheme, rules_off=checkers.EMAIL_RULES_OFF
    )
    assert not problems, _report(problems)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_pass_axe(
    browser: Any, scheme: str, app_pages: tuple[dict[str, str], dict[str, str]]
) -> None:
    """Every archive, public and editors' page, light and dark, has no axe-core violation."""
    public, editor = app_pages
    pages = {**documents.archive_pages(), **public, **editor}
    problems = checkers.axe_check(browser, pages, scheme)
    assert not problems, _report(problems)


# A document the Nu checker must fault, checked in the same java run as the pages: it
# shows the run really checks (an empty answer could also mean nothing was read).
CANARY = "canary (must fail)"
_CANARY_HTML = (
    "<!doctype html><html lang=en><title>x</title>"
    '<time datetime="2026-03-02T07:00:00.123456+00:00">x</time></html>'
)


@pytest.fixture(scope="module")
def nu_findings(app_pages: tuple[dict[str, str], dict[str, str]]) -> dict[str, list[str]]:
    """The Nu HTML Checker's errors on every page and the canary: one JVM start in all."""
    public, editor = app_pages
    pages = {**documents.archive_pages(), **public, **editor, CANARY: _CANARY_HTML}
    return checkers.nu_check(pages)


def test_pages_pass_the_nu_html_checker(nu_findings: dict[str, list[str]]) -> None:
    """Every archive, public and editors' page is valid HTML to the Nu HTML Checker."""
    problems = {name: found for name, found in nu_findings.items() if name != CANARY}
    assert not problems, _report(problems)


def test_the_nu_checker_names_the_document_and_its_error(
    nu_findings: dict[str, list[str]],
) -> None:
    """The run itself: the canary's six-digit fraction of a second is reported against it."""
    assert any("fraction of a second" in line for line in nu_findings[CANARY])


def test_axe_reports_low_contrast(browser: Any) -> None:
    """The axe run itself: grey on grey text is a colour-contrast violation."""
    html = (
        '<!doctype html><html lang="en"><head><title>x</title></head><body><main><h1>x</h1>'
        '<p style="color:#aaa;background:#bbb">faint</p></main></body></html>'
    )
    problems = checkers.axe_check(browser, {"faint": html}, "light")
    assert [line.split(" ")[0] for line in problems["faint"]] == ["color-contrast"]
