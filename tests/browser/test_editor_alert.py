"""The "Send as alert" action in headless Chromium: from an approved briefing to the count,
the confirmation and the sent notice. Screenshot: ``test-artifacts/editor-alert.png``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from newsletter.digests.models import Digest, DigestState
from newsletter.editors import services as accounts
from newsletter.editors.models import Role
from tests import services
from tests.browser.test_editor_flow import PASSWORD, Site, _sign_in, site
from tests.factories import make_briefing, make_publication
from tests.unit.newsletter.pipeline import alert_seed
from tests.unit.newsletter.schedules import seed

pytestmark = [pytest.mark.browser, pytest.mark.slow]

__all__ = ["site"]  # the fixture, imported for this module's tests


def test_send_as_alert(site: Site, browser: Any) -> None:
    """A publisher opens the action, sees 7 readers, must tick the box, and sends it."""
    from playwright.sync_api import expect

    with site.database.session() as session:
        accounts.create_editor(
            session, "Pat Publisher", "pat@example.org", Role.PUBLISHER, PASSWORD
        )
        publication = make_publication(session)
        make_briefing(
            session,
            slug="dam-breach",
            title="Dam breach: evacuate the lower valley now",
            topics=["Weather"],
            lede="Water is over the spillway; the county orders everyone below the dam out.",
        )
        alert_seed.alert_readers(session, publication, 4)
        alert_seed.alert_readers(session, publication, 3, start=10, topics=["weather"])
        seed.readers(session, publication, 5, start=20)  # the digest only
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    _sign_in(page, site, "pat@example.org", "/editor/briefings/dam-breach")
    page.get_by_role("link", name="Send as alert…").click()
    expect(page.get_by_role("heading", name="Send as alert")).to_be_visible()
    expect(page.locator("#alert-readers")).to_contain_text("7 readers who opted into alerts")
    expect(page.get_by_text("0 of 3 alerts a day sent")).to_be_visible()
    services.screenshot(page, "editor-alert.png")
    page.get_by_label("Send it now to 7 readers").check()
    page.get_by_role(
        "button", name="Send alert “Dam breach: evacuate the lower valley now”"
    ).click()
    expect(page.get_by_role("status")).to_contain_text("Alert sent")
    # The plan request went to the deployment's (embedded) broker; the alert is public.
    with site.database.session() as session:
        digest = session.scalars(select(Digest).where(Digest.cadence == "alert")).one()
        assert digest.state is DigestState.PUBLISHED
