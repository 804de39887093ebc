"""An admin writes the welcome email in headless Chromium and sees the preview.
Screenshot: ``test-artifacts/editor-welcome.png``."""

from __future__ import annotations

from typing import Any

import pytest

from newsletter.editors import services as accounts
from newsletter.editors.models import Role
from tests import services
from tests.browser.test_editor_flow import PASSWORD, Site, _sign_in, site
from tests.factories import make_publication

pytestmark = [pytest.mark.browser, pytest.mark.slow]

__all__ = ["site"]  # the fixture, imported for this module's tests


def test_admin_writes_the_welcome_email(site: Site, browser: Any) -> None:
    """The form shows the built-in preview; saved text replaces it, escaped."""
    from playwright.sync_api import expect

    with site.database.session() as session:
        accounts.create_editor(session, "Ada Admin", "ada@example.org", Role.ADMIN, PASSWORD)
        make_publication(session)
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    _sign_in(page, site, "ada@example.org", "/editor/publications/morning/welcome")
    expect(page.get_by_role("heading", name="Welcome email of The Morning Test")).to_be_visible()
    expect(page.locator("pre.text")).to_contain_text("Thank you for confirming")
    page.get_by_label("Subject").fill("Welcome aboard, <reader>")
    page.get_by_label("Text").fill(
        "Every weekday at seven: the five things that matter in the city.\n\n"
        "Reply to this email any time: an editor reads every answer."
    )
    page.get_by_role("button", name="Save welcome email").click()
    expect(page.get_by_role("status")).to_contain_text("Welcome email saved")
    expect(page.locator("pre.text")).to_contain_text("Reply to this email any time")
    expect(page.get_by_text("Subject: Welcome aboard, <reader>")).to_be_visible()
    services.screenshot(page, "editor-welcome.png")
