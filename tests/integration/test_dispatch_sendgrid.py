"""Dispatch through the real SendGrid adapter and test server: once per recipient."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.db import Database, utcnow
from newsletter.delivery import services
from newsletter.delivery.events import apply_pending
from newsletter.delivery.report import delivery_report
from newsletter.delivery.services import DispatchOptions
from newsletter.delivery.views import WEBHOOK_PATH, router
from newsletter.pipeline.dispatch import dispatch
from newsletter.pipeline.steps import plan
from newsletter.providers.sendgrid import SendGridSender
from newsletter.providers.webhook_protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER
from newsletter.sendgrid_testserver.events import sign
from newsletter.sendgrid_testserver.server import SendGridTestServer
from newsletter.settings import Settings
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    SECRET,
    batch_states,
    edition_with_readers,
    tokens,
)
from tests.unit.newsletter.delivery.test_services import Clock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[SendGridTestServer]:
    """A SendGrid test server on 127.0.0.1."""
    with SendGridTestServer() as running:
        yield running


def sendgrid(server: SendGridTestServer) -> SendGridSender:
    return SendGridSender(server.api_key, host=server.url, timeout=5)


def webhook(database: Database, server: SendGridTestServer, data_dir: Path) -> TestClient:
    """The web app on ``database``, trusting the test server's signing key."""
    settings = Settings(
        data_dir=data_dir,
        database_url=database.engine.url.render_as_string(hide_password=False),
        secret_key=SECRET,
        base_url=BASE_URL,
        sendgrid_webhook_public_key=server.public_key,
    )
    app = create_app(settings)
    if not any(getattr(route, "path", "") == WEBHOOK_PATH for route in app.routes):
        app.include_router(router)
    return TestClient(app)


def post_events(client: TestClient, server: SendGridTestServer, events: list[Any]) -> Any:
    body = json.dumps(events).encode()
    stamp = str(int(time.time()))
    headers = {SIGNATURE_HEADER: sign(server.key, stamp, body), TIMESTAMP_HEADER: stamp}
    return client.post(WEBHOOK_PATH, content=body, headers=headers)


def delivered_counts(server: SendGridTestServer) -> Counter[str]:
    return Counter(address for request in server.accepted for address in request.recipients)


def test_fault_injection_still_delivers_everyone_once(
    any_database: Database, data_dir: Path
) -> None:
    """With a fifth of requests failing (429, 500, dropped answers), every reader gets one copy."""
    digest_id, _ = edition_with_readers(any_database, 300)
    clock = Clock()
    with SendGridTestServer(fault_rate=0.2, seed=5) as server:
        options = DispatchOptions(batch_size=10)
        report = dispatch(
            any_database,
            digest_id,
            sendgrid(server),
            base_url=BASE_URL,
            tokens=tokens(),
            options=options,
            clock=clock,
            sleep=clock.sleep,
        )
        # Dropped answers left batches unknown: the provider's events settle them.
        with webhook(any_database, server, data_dir) as client:
            assert post_events(client, server, server.events("processed")).status_code == 200
        apply_pending(any_database)  # what the worker's apply task does after the post
        clock.now += timedelta(hours=1)
        assert services.reconcile(any_database, clock=clock) == []
        with any_database.session() as session:
            report = delivery_report(session, digest_id)
    counts = delivered_counts(server)
    assert len(counts) == 300
    assert set(counts.values()) == {1}
    assert report.state == "sent"
    assert report.sent == 300
    assert clock.slept, "some requests were retried after a wait"


def test_rejected_address_fails_and_the_rest_go_out(database: Database, server: Any) -> None:
    """An address SendGrid refuses fails permanently; everyone else in its batch is sent."""
    digest_id, _ = edition_with_readers(database, 5)
    with SendGridTestServer(invalid_addresses=["reader3@example.org"]) as strict:
        report = dispatch(database, digest_id, sendgrid(strict), base_url=BASE_URL, tokens=tokens())
        counts = delivered_counts(strict)
    assert sorted(counts) == [f"reader{n}@example.org" for n in (1, 2, 4, 5)]
    assert report.by_state == {"accepted": 4, "failed": 1}
    assert report.state == "partially_failed"


def test_killed_worker_is_reconciled_without_duplicates(
    any_database: Database, server: SendGridTestServer, data_dir: Path
) -> None:
    """A process killed between the 202 and its commit is reconciled: nobody lost, nobody twice."""
    digest_id, _ = edition_with_readers(any_database, 25)
    url = any_database.engine.url.render_as_string(hide_password=False)
    plan(any_database, digest_id, options=DispatchOptions(batch_size=10))
    child = subprocess.run(
        [sys.executable, "-m", "tests.integration.dispatch_child", url, server.url,
         server.api_key, str(digest_id)],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert child.returncode == 9, child.stderr.decode()
    assert len(server.accepted) == 1
    assert batch_states(any_database, digest_id) == ["sending", "planned", "planned"]

    # Later: the lease has run out, so the batch is unknown; SendGrid's events confirm it.
    later = lambda: utcnow() + timedelta(minutes=6)  # noqa: E731 - the child used the real clock
    services.reconcile(any_database, window=timedelta(hours=1), clock=later)
    assert batch_states(any_database, digest_id)[0] == "unknown"
    with webhook(any_database, server, data_dir) as client:
        response = post_events(client, server, server.events("processed"))
    assert response.json()["received"] == 10
    assert apply_pending(any_database).events.applied == 10  # the worker's apply task
    assert batch_states(any_database, digest_id)[0] == "accepted"

    report = dispatch(any_database, digest_id, sendgrid(server), base_url=BASE_URL, tokens=tokens())
    counts = delivered_counts(server)
    assert len(counts) == 25
    assert set(counts.values()) == {1}
    assert report.state == "sent"
    assert report.by_state == {"accepted": 25}
