"""The readers' choices on the sign-up and preferences pages in headless Chromium.

Phone-sized, JavaScript off: the zone select, the cadence and the roundup day fit the
screen and work; a refused value is shown next to its field. Screenshots go to
``test-artifacts/reader-choices-*.png`` for a person to look at.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from newsletter.app.factory import create_app
from newsletter.content.edition import Cadence
from newsletter.settings import Settings
from subscribers import services
from tests import services as test_services
from tests.unit.subscribers.factories import link_in, outbox_messages, seed

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(data_dir: Path) -> Iterator[tuple[str, Settings, Any]]:
    """A real uvicorn server over a publication with Wednesday and Sunday roundups."""
    port = _free_port()
    settings = Settings(data_dir=data_dir, base_url=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    seed(
        app.state.runtime.database,
        weekly_days=["wed", "sun"],
        local_delivery=True,
        timezone="Europe/London",
    )
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.05):  # wait for the socket, not a fixed time
        if instance.started:
            started.set()
        if not thread.is_alive():
            pytest.fail("the web server did not start")
    yield settings.base_url, settings, app
    instance.should_exit = True
    thread.join(10)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A phone-sized page of the shared headless Chromium, JavaScript off."""
    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    yield context.new_page()
    context.close()


def _shot(page: Any, name: str) -> None:
    test_services.screenshot(page, f"reader-choices-{name}.png")


def test_weekly_reader_in_tokyo_signs_up_and_changes_to_daily(
    server: tuple[str, Settings, Any], page: Any
) -> None:
    """Choose a weekly Sunday roundup in Asia/Tokyo, confirm, then switch to every edition."""
    base_url, settings, app = server
    page.goto(f"{base_url}/subscribe/daily")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.fill("#email", "kenji@example.org")
    page.check("input[name=topics][value=Science]")
    page.check("input[name=cadence][value=weekly]")
    page.select_option("#weekly_day", "sun")
    page.select_option("#timezone", "Asia/Tokyo")
    _shot(page, "1-sign-up")
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Check your inbox"

    [message] = outbox_messages(settings.outbox_dir)
    page.goto(link_in(message, "/confirm/"))
    page.click("text=Yes, subscribe me")
    page.click("text=Choose topics or manage your subscription")
    assert page.is_checked("input[value=weekly]")
    assert page.locator("select[name^=weekly_day]").input_value() == "sun"
    assert page.locator("#timezone").input_value() == "Asia/Tokyo"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(page, "2-preferences")
    page.check("input[value=daily]")
    page.select_option("#timezone", "")
    page.click("text=Save preferences")
    assert page.locator(".notice").inner_text() == "Your preferences are saved."
    _shot(page, "3-preferences-saved")
    with app.state.runtime.database.session() as session:
        kenji = services.get_subscriber(session, "kenji@example.org")
        assert kenji.timezone is None
        assert kenji.subscriptions[0].cadence is Cadence.DAILY


def test_a_refused_day_is_shown_next_to_its_field(
    server: tuple[str, Settings, Any], page: Any
) -> None:
    """A day the publication does not offer (a forged form) is shown beside the day select."""
    base_url, _, _ = server
    refused = httpx.post(
        f"{base_url}/subscribe/daily",
        data={"email": "ann@example.org", "cadence": "weekly", "weekly_day": "mon"},
    )
    assert refused.status_code == 400
    page.set_content(refused.text)
    error = page.locator("#e-weekly_day")
    assert "weekly_day: mon is not a day this publication offers" in error.inner_text()
    assert page.locator("#weekly_day").get_attribute("aria-invalid") == "true"
    error.scroll_into_view_if_needed()
    _shot(page, "4-refused-day")


def test_a_reader_takes_alerts_on_one_topic_and_leaves_the_digest(
    server: tuple[str, Settings, Any], page: Any
) -> None:
    """The preferences page shows each kind of mail: the digest and alerts, with alert topics."""
    base_url, settings, app = server
    page.goto(f"{base_url}/subscribe/daily")
    page.fill("#email", "rosa@example.org")
    page.check("input[name=alerts]")
    page.click("button[type=submit]")
    [message] = outbox_messages(settings.outbox_dir)
    page.goto(link_in(message, "/confirm/"))
    page.click("text=Yes, subscribe me")
    page.click("text=Choose topics or manage your subscription")
    assert page.is_checked("input[name^=digests-]")
    assert page.is_checked("input[name^=alerts-]")
    page.uncheck("input[name^=digests-]")
    page.check("input[name^=alert_topics-][value=Science]")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(page, "5-kinds-of-mail")
    page.click("text=Save preferences")
    assert page.locator(".notice").inner_text() == "Your preferences are saved."
    with app.state.runtime.database.session() as session:
        rosa = services.get_subscriber(session, "rosa@example.org").subscriptions[0]
        assert (rosa.digests, rosa.alerts, rosa.alert_topics) == (False, True, ["Science"])
