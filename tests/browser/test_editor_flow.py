"""The editors' app in headless Chromium: sign in, approve, preview, test-send, schedule, report.

The app runs under uvicorn on 127.0.0.1 and sends through the SendGrid test server,
which posts delivery events back to the app's webhook. Screenshots go to
``test-artifacts/editor-*.png`` for a person to look at.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from newsletter.app.factory import create_app
from newsletter.briefings.models import BriefingState
from newsletter.db import Database, utcnow
from newsletter.delivery.views import WEBHOOK_PATH
from newsletter.digests.services import assemble_digest, next_edition, render_digest
from newsletter.editors import services as accounts
from newsletter.editors.models import Role
from newsletter.pipeline.dispatch import dispatch
from newsletter.providers.sendgrid import SendGridSender
from newsletter.sendgrid_testserver.server import SendGridTestServer
from newsletter.settings import EmailBackend, Settings
from subscribers.services import ensure_default_list
from subscribers.tokens import Tokens
from tests import services
from tests.factories import make_briefing, make_publication
from tests.unit.newsletter.delivery.dispatch_factories import add_subscribers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECRET = "editor-flow-secret-key-0123456789abcdef"
PASSWORD = "a long enough password"


@dataclass
class Site:
    """The running app, its database, the SendGrid test server and the settings."""

    url: str
    database: Database
    sendgrid: SendGridTestServer
    settings: Settings


@pytest.fixture
def site(data_dir: Path) -> Iterator[Site]:
    """The web app under uvicorn, sending through the SendGrid test server."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with SendGridTestServer(webhook_url=base + WEBHOOK_PATH) as sendgrid:
        settings = Settings(
            data_dir=data_dir,
            secret_key=SECRET,
            base_url=base,
            email_backend=EmailBackend.SENDGRID,
            sendgrid_api_key=sendgrid.api_key,
            sendgrid_api_host=sendgrid.url,
            sendgrid_webhook_public_key=sendgrid.public_key,
        )
        app = create_app(settings)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:  # readiness of the server, not a wait for a result
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        try:
            yield Site(base, app.state.runtime.database, sendgrid, settings)
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()


def _seed(database: Database) -> None:
    with database.session() as session:
        accounts.create_editor(
            session, "Pat Publisher", "pat@example.org", Role.PUBLISHER, PASSWORD
        )
        accounts.create_editor(session, "Ada Admin", "ada@example.org", Role.ADMIN, PASSWORD)
        publication = make_publication(
            session, weekdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        )
        make_briefing(
            session,
            slug="rail-strike",
            title="Rail strike called off at the last minute",
            topics=["Transport"],
            state=BriefingState.DRAFT,
            approved_revision=None,
            warnings=[{"code": "derived_title", "message": "The title was taken from the lede."}],
        )
        make_briefing(
            session,
            slug="harbour-plan",
            title="Harbour plan approved",
            topics=["City"],
            approved_at=utcnow() - timedelta(hours=2),
        )
        add_subscribers(session, ensure_default_list(session, publication).id, 3)


def _shot(page: Any, name: str) -> None:
    services.screenshot(page, f"editor-{name}.png")


def _send_next_edition(site: Site) -> int:
    """What ``newsletter digest send`` does: assemble, render and dispatch the next edition."""
    with site.database.session() as session:
        from newsletter.publications.services import get_publication

        publication = get_publication(session, "morning")
        digest = assemble_digest(session, publication, next_edition(publication)).digest
        digest_id = render_digest(session, digest.id).id
    sender = SendGridSender(site.sendgrid.api_key, host=site.sendgrid.url, timeout=5)
    dispatch(site.database, digest_id, sender, base_url=site.url, tokens=Tokens(SECRET))
    return digest_id


def _sign_in(page: Any, site: Site, email: str, path: str) -> None:
    page.goto(site.url + path)
    page.get_by_label("Name or email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_editor_flow(site: Site, browser: Any) -> None:
    """A publisher signs in, approves, previews, test-sends, schedules, sees a report."""
    from playwright.sync_api import expect

    _seed(site.database)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(site.url + "/editor/briefings")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    _shot(page, "login")
    page.get_by_label("Name or email").fill("pat@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # The queue shows the draft and its import warning.
    expect(page.get_by_role("heading", name="Briefings")).to_be_visible()
    expect(page.get_by_text("The title was taken from the lede.")).to_be_visible()
    _shot(page, "queue")
    page.get_by_role("link", name="Rail strike called off at the last minute").click()
    page.get_by_label("Note for the history (optional)").fill("Checked with the desk")
    page.get_by_role("button", name="Approve revision 1").click()
    expect(page.get_by_role("status")).to_contain_text("Approved")
    expect(page.get_by_text("Pat Publisher approved revision 1")).to_be_visible()
    _shot(page, "briefing")

    # The preview shows the email at 375 and 800 px, the text part and the size.
    page.get_by_role("link", name="Next edition").click()
    phone = page.frame_locator("iframe[title='Email at 375 pixels']")
    desktop = page.frame_locator("iframe[title='Email at 800 pixels']")
    for frame in (phone, desktop):
        expect(frame.get_by_text("Rail strike called off at the last minute").first).to_be_visible()
    assert page.locator("iframe[title='Email at 375 pixels']").bounding_box()["width"] == 375
    assert page.locator("iframe[title='Email at 800 pixels']").bounding_box()["width"] == 800
    expect(page.locator("pre.text")).to_contain_text("Rail strike called off")
    expect(page.get_by_text("under Gmail’s 102 KB clip")).to_be_visible()
    page.locator("iframe[title='Email at 800 pixels']").scroll_into_view_if_needed()
    _shot(page, "preview")

    # Test-send goes to the publisher through SendGrid, and nothing is frozen.
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text("Test copy sent")
    assert [r.recipients for r in site.sendgrid.accepted] == [["pat@example.org"]]

    # Schedule a one-off edition ten days ahead.
    page.get_by_role("link", name="Schedules").click()
    when = (utcnow() + timedelta(days=10)).strftime("%Y-%m-%dT09:30")
    page.get_by_label("Local date and time (UTC)").fill(when)
    page.get_by_role("button", name="Add edition").click()
    expect(page.get_by_role("status")).to_contain_text("One-off edition added")
    expect(page.get_by_role("cell", name=when[:10], exact=True)).to_be_visible()

    # Send today's edition now: the box must be ticked, then the edition is listed as due now.
    page.get_by_label("Yes, send it to every subscriber now").check()
    page.get_by_role("button", name="Send today’s edition now").click()
    expect(page.get_by_role("status")).to_contain_text("Today's edition is queued")
    expect(
        page.get_by_role("row").filter(has_text="now").filter(has_text="scheduled")
    ).to_have_count(1)
    _shot(page, "schedules")
    # Today's edition is on record now: send-now is no longer offered, and says why.
    expect(page.get_by_label("Yes, send it to every subscriber now")).to_have_count(0)
    expect(page.get_by_text("Not available: edition")).to_contain_text("is already scheduled")

    # After a real send, the report shows every recipient and a chart.
    digest_id = _send_next_edition(site)
    page.goto(f"{site.url}/editor/editions/{digest_id}")
    expect(page.get_by_text("3 of 3 recipients")).to_be_visible()
    expect(page.locator("svg.chart").first).to_be_visible()
    _shot(page, "report")

    # Readable on a phone: nothing scrolls sideways on the queue and the report.
    phone_page = browser.new_page(viewport={"width": 375, "height": 800})
    phone_page.context.add_cookies(page.context.cookies())
    for path, name in (
        ("/editor/briefings?state=all", "queue-phone"),
        (f"/editor/editions/{digest_id}", "report-phone"),
    ):
        phone_page.goto(site.url + path)
        _shot(phone_page, name)
        assert phone_page.evaluate("document.documentElement.scrollWidth") <= 375


def test_admin_manages_lists_and_settings(site: Site, browser: Any) -> None:
    """An admin adds a list, makes it single opt-in and edits a publication's settings."""
    from playwright.sync_api import expect

    _seed(site.database)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, site, "ada@example.org", "/editor/lists")
    expect(page.get_by_role("heading", name="Mailing lists")).to_be_visible()
    page.get_by_label("List name").fill("Weekend edition")
    page.get_by_label("Address name (slug)").fill("weekend")
    page.get_by_role("button", name="Add list").click()
    expect(page.get_by_role("status")).to_contain_text("Mailing list added")
    page.get_by_role("button", name="Make single opt-in: Weekend edition").click()
    expect(page.get_by_role("status")).to_contain_text("without a confirmation email")
    weekend = page.get_by_role("row").filter(has_text="Weekend edition")
    expect(weekend).to_contain_text("single opt-in")
    _shot(page, "lists")

    page.get_by_role("link", name="Publications").click()
    page.get_by_role("link", name="Edit settings").click()
    page.get_by_label("Sender email").fill("desk@localhost")  # passes the browser, not us
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("alert")).to_contain_text("Sender email: expected an email address")
    page.get_by_label("Sender email").fill("desk@example.org")
    page.get_by_label("Tagline").fill("Five things before nine")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Publication saved")
    _shot(page, "publication")

    phone_page = browser.new_page(viewport={"width": 375, "height": 800})
    phone_page.context.add_cookies(page.context.cookies())
    for path, name in (
        ("/editor/lists", "lists-phone"),
        ("/editor/publications/morning", "publication-phone"),
    ):
        phone_page.goto(site.url + path)
        _shot(phone_page, name)
        assert phone_page.evaluate("document.documentElement.scrollWidth") <= 375
