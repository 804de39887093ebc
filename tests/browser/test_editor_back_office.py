"""The back office without a terminal, in headless Chromium: find a reader, open their
page, suppress them, and import a CSV with a bad row into a list. Screenshots:
``test-artifacts/back-office-*.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from newsletter.editors import services as accounts
from newsletter.editors.models import Role
from subscribers.models import Subscriber, Suppression
from subscribers.services import ensure_default_list
from tests import services
from tests.browser.test_editor_flow import PASSWORD, Site, _sign_in, site
from tests.factories import make_publication
from tests.unit.newsletter.delivery.dispatch_factories import add_subscribers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

__all__ = ["site"]  # the fixture, imported for this module's tests


def test_back_office_walk(site: Site, browser: Any, tmp_path: Path) -> None:
    """Search, a reader's page, an action, then a CSV import whose bad row is reported."""
    from playwright.sync_api import expect

    with site.database.session() as session:
        accounts.create_editor(session, "Ada Admin", "ada@example.org", Role.ADMIN, PASSWORD)
        publication = make_publication(session)
        list_id = ensure_default_list(session, publication).id
        add_subscribers(session, list_id, 12)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    _sign_in(page, site, "ada@example.org", "/editor/subscribers")

    page.get_by_label("Address or name (or part of one)").fill("reader1")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("4 readers.")).to_be_visible()  # reader1, reader10..12
    services.screenshot(page, "back-office-search.png")

    page.get_by_role("link", name="reader11@example.org").click()
    expect(page.get_by_role("heading", name="reader11@example.org")).to_be_visible()
    page.get_by_label("Suppress: never mail this address again. Note (why)").fill("asked by phone")
    page.get_by_role("button", name="Suppress").click()
    expect(page.get_by_role("status")).to_contain_text("Suppressed")
    expect(page.get_by_text("Suppressed (manual)")).to_be_visible()
    services.screenshot(page, "back-office-reader.png")
    with site.database.session() as session:
        assert session.scalars(select(Suppression.note)).one() == "asked by phone"

    csv_file = tmp_path / "new-readers.csv"
    csv_file.write_text("email,name\nnora@example.org,Nora\nnot an address,Bad Row\n")
    page.goto(site.url + "/editor/lists")
    page.get_by_role("link", name=f"Import a CSV into {publication.name}").click()
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_label("They already agreed to receive it").check()
    page.get_by_label("How they agreed").fill("signed up at the fair")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("rows imported into")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("cell", name="not an address", exact=True)).to_be_visible()
    expect(page.locator("table").get_by_role("cell", name="3", exact=True)).to_be_visible()
    services.screenshot(page, "back-office-import.png")
    with site.database.session() as session:
        emails = set(session.scalars(select(Subscriber.email)))
    assert "nora@example.org" in emails
    assert "not an address" not in emails
