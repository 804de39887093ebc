"""Editing a briefing in headless Chromium: the live preview as the editor types, and without JS.

Screenshots go to ``test-artifacts/editor-edit-*.png`` for a person to look at.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from newsletter.app.factory import create_app
from newsletter.briefings import services as briefings
from newsletter.briefings.models import BriefingState
from newsletter.db import Database
from newsletter.editors import services as accounts
from newsletter.editors.models import Role
from newsletter.settings import EmailBackend, Settings
from tests import services
from tests.factories import make_briefing

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a long enough password"
EDIT = "/editor/briefings/rail-strike/edit"


@pytest.fixture
def site(data_dir: Path) -> Iterator[tuple[str, Database]]:
    """The web app under uvicorn on a free port, with an editor and a draft briefing."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(Settings(data_dir=data_dir, base_url=base, email_backend=EmailBackend.MEMORY))
    database: Database = app.state.runtime.database
    with database.session() as session:
        accounts.create_editor(session, "Eve Editor", "eve@example.org", Role.EDITOR, PASSWORD)
        make_briefing(
            session,
            slug="rail-strike",
            title="Rail strike ends",
            topics=["Transport"],
            state=BriefingState.DRAFT,
            approved_revision=None,
        )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # readiness of the server, not a wait for a result
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield base, database
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _sign_in(page: Any, base: str) -> None:
    page.goto(base + EDIT)
    page.get_by_label("Name or email").fill("eve@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _latest(database: Database) -> tuple[int, str]:
    with database.session() as session:
        briefing = briefings.get_briefing(session, "rail-strike")
        return briefing.latest_revision, briefings.revision(session, briefing).title


def test_live_preview_follows_typing_and_saving_adds_a_revision(
    site: tuple[str, Database], browser: Any
) -> None:
    """Typing updates the archive preview (or lists the fields to fix); Save makes revision 2."""
    from playwright.sync_api import expect

    base, database = site
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []  # script errors (a 422 preview answer is no error)
    page.on("pageerror", lambda error: errors.append(str(error)))
    _sign_in(page, base)
    expect(page.get_by_role("heading", name="Edit briefing")).to_be_visible()
    preview = page.locator("#preview")
    expect(preview.get_by_role("heading", name="Rail strike ends")).to_be_visible()

    page.get_by_label("Title").fill("Rail strike called off at dawn & <quietly>")
    expect(
        preview.get_by_role("heading", name="Rail strike called off at dawn & <quietly>")
    ).to_be_visible()
    expect(page.locator("#preview-status")).to_have_text(
        "Preview updated: as the archive page shows it."
    )
    page.get_by_label("More on these topics").fill("Transport without a heading")
    expect(preview.get_by_role("link", name="More on these topics")).to_be_visible()
    expect(preview).to_contain_text("start with a line “## topic” before any paragraph")
    services.screenshot(page, "editor-edit-problem.png")
    page.get_by_label("More on these topics").fill("## Transport\n\nTrains, buses and trams.")
    expect(preview.get_by_role("listitem").filter(has_text="Transport")).to_be_visible()
    services.screenshot(page, "editor-edit.png")
    assert _latest(database) == (1, "Rail strike ends")  # the preview saves nothing

    page.get_by_role("button", name="Save revision 2").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved as a new revision")
    assert _latest(database) == (2, "Rail strike called off at dawn & <quietly>")
    expect(page.get_by_text("Eve Editor revised revision 2")).to_be_visible()
    assert errors == []

    phone = browser.new_page(viewport={"width": 375, "height": 800})
    phone.context.add_cookies(page.context.cookies())
    phone.goto(base + EDIT)
    services.screenshot(phone, "editor-edit-phone.png")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375


def test_preview_button_works_without_javascript(site: tuple[str, Database], browser: Any) -> None:
    """With scripts off, the Preview button posts the form and the page shows the preview."""
    from playwright.sync_api import expect

    base, database = site
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    _sign_in(page, base)
    page.get_by_label("Title").fill("Rail strike called off")
    page.get_by_role("button", name="Preview").click()
    expect(
        page.locator("#preview").get_by_role("heading", name="Rail strike called off")
    ).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value("Rail strike called off")
    assert _latest(database) == (1, "Rail strike ends")
    context.close()


def test_typing_before_the_script_arrives_is_previewed(
    site: tuple[str, Database], browser: Any
) -> None:
    """The script is deferred: what was typed before it ran is previewed when it does."""
    from playwright.sync_api import expect

    base, _ = site
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    held: list[Any] = []
    page.route("**/*.js", lambda route: held.append(route))  # the script waits here
    _sign_in(page, base)
    expect(page.get_by_role("heading", name="Edit briefing")).to_be_visible()
    page.get_by_label("Title").fill("Typed before the script")
    expect(page.locator("#preview-status")).to_have_text("As the archive page shows it.")
    assert held, "the page asked for no script"
    for route in held:
        route.continue_()
    expect(
        page.locator("#preview").get_by_role("heading", name="Typed before the script")
    ).to_be_visible()
