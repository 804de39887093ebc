"""Personal digests in headless Chromium: the preview as one reader gets it, the report by
variant and zone group, and a variant's "view in browser" page, on a phone and a desktop.

The app runs under uvicorn on 127.0.0.1. Screenshots go to ``test-artifacts/``
(``editor-preview-reader*.png``, ``editor-report-variants*.png``, ``variant-page-*.png``)
for a person to look at.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from newsletter import urls
from newsletter.app.factory import create_app
from newsletter.db import Database, utcnow
from newsletter.delivery.models import BatchState, DeliveryState
from newsletter.digests.models import DigestState
from newsletter.editors import services as accounts
from newsletter.editors.models import Role
from newsletter.settings import EmailBackend, Settings
from tests import services
from tests.factories import make_briefing
from tests.unit.newsletter.delivery.variant_factories import (
    DAY,
    Group,
    Published,
    published_edition,
    write_ledger,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a long enough password"
D, B = DeliveryState, BatchState
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass
class Site:
    """The running app and its database."""

    url: str
    database: Database


@pytest.fixture
def site(data_dir: Path) -> Iterator[Site]:
    """The web app under uvicorn on a free port, mail to memory."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(Settings(data_dir=data_dir, base_url=base, email_backend=EmailBackend.MEMORY))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # readiness of the server, not a wait for a result
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Site(base, app.state.runtime.database)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _seed(database: Database) -> Published:
    """An editor; a locally delivering publication with topics and a Sunday roundup; a
    published edition sent in three zone groups and three variants; two new briefings."""
    with database.session() as session:
        accounts.create_editor(session, "Eve Editor", "eve@example.org", Role.EDITOR, PASSWORD)
        published = published_edition(
            session,
            state=DigestState.SENDING,
            local_delivery=True,
            timezone="Europe/London",
            weekdays=EVERY_DAY,
            weekly_days=["sun"],
            topics=["Climate", "Transport", "Technology", "Harbour & Docks"],
        )
        climate, transport = published.variants["Climate"], published.variants["Transport"]
        tokyo = datetime(2026, 3, 1, 22, tzinfo=UTC)
        london = datetime(2026, 3, 2, 7, tzinfo=UTC)
        new_york = datetime(2026, 3, 2, 12, tzinfo=UTC)
        write_ledger(
            session,
            published.digest_id,
            [
                Group(
                    tokyo,
                    ("Asia/Tokyo", "Asia/Seoul"),
                    (
                        (None, D.DELIVERED, B.ACCEPTED),
                        (climate, D.DELIVERED, B.ACCEPTED),
                        (climate, D.BOUNCED, B.ACCEPTED),
                    ),
                ),
                Group(
                    london,
                    ("Europe/London",),
                    ((climate, D.SCHEDULED, B.SCHEDULED), (transport, D.SCHEDULED, B.SCHEDULED)),
                ),
                Group(
                    new_york,
                    ("America/New_York", "America/Toronto"),
                    ((None, D.QUEUED, B.PLANNED), (transport, D.QUEUED, B.PLANNED)),
                ),
            ],
            skipped=2,
        )
        now = utcnow()
        make_briefing(
            session,
            slug="flood-barrier",
            title="Flood barrier closes for the first time this year",
            topics=["Climate"],
            approved_at=now - timedelta(hours=1),
        )
        make_briefing(
            session,
            slug="night-buses",
            title="Night buses return to the harbour route",
            topics=["Transport"],
            approved_at=now - timedelta(minutes=50),
        )
        return published


def _fits(page: Any, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_preview_report_and_variant_page(site: Site, browser: Any) -> None:
    """An editor previews a Tokyo reader of Climate and a weekly Transport reader, reads the
    report by variant and zone group, and opens a variant's page."""
    from playwright.sync_api import expect

    published = _seed(site.database)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(site.url + "/editor/preview")
    page.get_by_label("Name or email").fill("eve@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="As a reader gets it")).to_be_visible()

    # A Climate reader in Tokyo: only the Climate briefing, at 07:00 on their clock.
    page.get_by_label("Climate").check()
    page.get_by_label("Reader’s time zone").select_option("Asia/Tokyo")
    page.get_by_role("button", name="Show this reader’s email").click()
    expect(page.get_by_text("in Asia/Tokyo (")).to_be_visible()
    expect(page.locator("dd strong time")).to_contain_text("07:00")
    frame = page.frame_locator("iframe[title='Email at 800 pixels']")
    expect(
        frame.get_by_text("Flood barrier closes for the first time this year").first
    ).to_be_visible()
    expect(frame.get_by_text("Night buses return")).to_have_count(0)
    expect(
        page.get_by_text("one email rendered for every reader with this selection")
    ).to_be_visible()
    assert page.get_by_label("Climate").is_checked()
    services.screenshot(page, "editor-preview-reader.png")

    # A weekly Transport reader in the publication's zone gets the Sunday roundup.
    page.get_by_label("Climate").uncheck()
    page.get_by_label("Transport").check()
    page.get_by_label("Reader’s time zone").select_option("")
    page.get_by_label("Cadence").select_option("weekly")
    page.get_by_role("button", name="Show this reader’s email").click()
    expect(
        page.get_by_role("heading", name="Next weekly roundup: The Morning Test")
    ).to_be_visible()
    expect(page.get_by_text("(the publication’s zone)")).to_be_visible()
    frame = page.frame_locator("iframe[title='Email at 800 pixels']")
    expect(frame.get_by_text("Night buses return to the harbour route").first).to_be_visible()
    expect(frame.get_by_text("Flood barrier")).to_have_count(0)
    services.screenshot(page, "editor-preview-reader-weekly.png")

    # The report: three variants, three zone groups with local times and states.
    page.goto(f"{site.url}/editor/editions/{published.digest_id}")
    variants = page.get_by_role("table", name="By variant")
    expect(variants.get_by_role("row")).to_have_count(5)  # header, full edition, three variants
    expect(variants.get_by_role("row").filter(has_text="Climate")).to_contain_text("3")
    zones = page.get_by_role("table", name="By zone group")
    expect(zones.get_by_role("row").filter(has_text="Asia/Tokyo")).to_contain_text("sent")
    expect(zones.get_by_role("row").filter(has_text="America/New_York")).to_contain_text("waiting")
    expect(zones.get_by_role("row").filter(has_text="Europe/London")).to_contain_text("scheduled")
    services.screenshot(page, "editor-report-variants.png")

    phone = browser.new_page(viewport={"width": 375, "height": 800})
    phone.context.add_cookies(page.context.cookies())
    for path, name in (
        (f"/editor/editions/{published.digest_id}", "editor-report-variants-phone.png"),
        ("/editor/preview?topics=Climate&timezone=Asia/Tokyo", "editor-preview-reader-phone.png"),
    ):
        phone.goto(site.url + path)
        services.screenshot(phone, name)
        _fits(phone, 375)

    # The variant's page, as its readers' "view in browser" link opens it (the report links
    # the publication's public address; here the same path on the test server).
    path = urls.variant_page(urls.edition_page("", "morning", DAY), published.keys["Climate"])
    link = variants.get_by_role("row").filter(has_text="Climate").get_by_role("link")
    assert link.get_attribute("href") == "https://news.example.org" + path
    for width in (375, 1000):
        reader = browser.new_page(viewport={"width": width, "height": 800})
        reader.goto(site.url + path)
        expect(reader.get_by_text("2 of 4 briefings, on Climate")).to_be_visible()
        expect(reader.locator("article h2")).to_have_count(2)
        services.screenshot(reader, f"variant-page-{width}.png")
        _fits(reader, width)
