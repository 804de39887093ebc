"""The subscriber journey in headless Chromium against a real uvicorn server.

Fill the form, follow the confirmation link from the outbox, change topics, then
unsubscribe with the button. Screenshots go to ``test-artifacts/`` for a person to
look at.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from newsletter.app.factory import create_app
from newsletter.settings import Settings
from subscribers import services
from subscribers.links import Links
from subscribers.models import SubscriptionState
from subscribers.tokens import Tokens
from tests import services as test_services
from tests.unit.subscribers.factories import link_in, outbox_messages, seed

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(data_dir: Path) -> Iterator[tuple[str, Settings, Any]]:
    """A real uvicorn server in a thread, serving the app over a fresh database."""
    port = _free_port()
    settings = Settings(data_dir=data_dir, base_url=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    seed(app.state.runtime.database)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
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
    """A page of the shared headless Chromium, JavaScript off, phone-sized."""
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


def _shot(page: Any, name: str) -> None:
    test_services.screenshot(page, f"subscribe-{name}.png")


def _state(app: Any) -> SubscriptionState:
    with app.state.runtime.database.session() as session:
        state: SubscriptionState = (
            services.get_subscriber(session, "ann@example.org").subscriptions[0].state
        )
        return state


def test_sign_up_confirm_change_topics_unsubscribe(
    server: tuple[str, Settings, Any], page: Any
) -> None:
    """A person can do the whole journey with JavaScript off, on a phone-sized screen."""
    base_url, settings, app = server
    page.goto(f"{base_url}/subscribe/daily")
    _shot(page, "1-form")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.fill("#email", "ann@example.org")
    page.fill("#name", "Ann <Lee>")
    page.check("input[name=topics][value=Sport]")
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Check your inbox"
    _shot(page, "2-check-inbox")

    [message] = outbox_messages(settings.outbox_dir)
    page.goto(link_in(message, "/confirm/"))
    _shot(page, "3-confirm")
    assert _state(app) is SubscriptionState.PENDING
    page.click("text=Yes, subscribe me")
    assert page.locator("h1").inner_text() == "You are subscribed"
    assert _state(app) is SubscriptionState.CONFIRMED
    _shot(page, "4-confirmed")

    page.click("text=Choose topics or manage your subscription")
    assert page.is_checked("input[value=Sport]")
    page.uncheck("input[value=Sport]")
    page.check("input[value=Science]")
    page.select_option("#pause", "30")
    page.click("text=Save preferences")
    assert page.locator(".notice").inner_text() == "Your preferences are saved."
    assert page.is_checked("input[value=Science]")
    assert not page.is_checked("input[value=Sport]")
    _shot(page, "5-preferences-saved")

    with app.state.runtime.database.session() as session:
        subscription = services.get_subscriber(session, "ann@example.org").subscriptions[0]
        assert subscription.topics == ["Science"]
        assert subscription.paused_until is not None
        links = Links(settings.base_url, Tokens(settings.secret_key.get_secret_value()))
        unsubscribe = links.unsubscribe_url(subscription.subscriber_id, subscription.list_id)
    page.goto(unsubscribe)
    _shot(page, "6-unsubscribe")
    assert _state(app) is SubscriptionState.CONFIRMED
    page.click("button.danger")
    assert page.locator("h1").inner_text() == "You are unsubscribed"
    assert _state(app) is SubscriptionState.UNSUBSCRIBED
    _shot(page, "7-unsubscribed")
