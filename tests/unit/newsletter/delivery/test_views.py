"""The Event Webhook stores nothing unless the request is signed, fresh and well formed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.db import Database
from newsletter.delivery.models import DeliveryEvent
from newsletter.delivery.testserver_events import generate_signing_key, public_key_b64, sign
from newsletter.delivery.views import WEBHOOK_PATH, router
from newsletter.delivery.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER
from newsletter.settings import Settings
from newsletter.web.app import create_app

KEY = generate_signing_key()


def make_client(settings: Settings) -> TestClient:
    app = create_app(settings)
    if not any(getattr(route, "path", "") == WEBHOOK_PATH for route in app.routes):
        app.include_router(router)  # until the app factory registers it
    return TestClient(app)


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    """An app that trusts ``KEY``."""
    settings = Settings(data_dir=data_dir, sendgrid_webhook_public_key=public_key_b64(KEY))
    with make_client(settings) as test_client:
        yield test_client


def stored(client: TestClient) -> int:
    database: Database = client.app.state.runtime.database  # type: ignore[attr-defined]
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(DeliveryEvent)) or 0)


def post(
    client: TestClient,
    body: bytes,
    *,
    key: ec.EllipticCurvePrivateKey = KEY,
    stamp: int | None = None,
    signature: str | None = None,
) -> Any:
    when = str(int(time.time()) if stamp is None else stamp)
    headers = {
        SIGNATURE_HEADER: signature if signature is not None else sign(key, when, body),
        TIMESTAMP_HEADER: when,
        "Content-Type": "application/json",
    }
    return client.post(WEBHOOK_PATH, content=body, headers=headers)


def body(*kinds: str) -> bytes:
    events = [
        {
            "email": "ann@example.org",
            "timestamp": int(time.time()),
            "event": kind,
            "sg_event_id": uuid.uuid4().hex,
        }
        for kind in kinds
    ]
    return json.dumps(events).encode()


def test_signed_events_are_stored_once(client: TestClient) -> None:
    """A signed, fresh body gets 200; replaying it inside the window stores nothing new."""
    payload = body("processed", "open")
    first = post(client, payload)
    assert first.status_code == 200
    assert first.json() == {"received": 2, "applied": 0, "duplicates": 0, "unmatched": 2}
    again = post(client, payload)
    assert again.json()["duplicates"] == 2
    assert stored(client) == 2


def test_forged_signature_is_refused(client: TestClient) -> None:
    """A body signed with another key is refused with 403 and nothing is stored."""
    response = post(client, body("delivered"), key=generate_signing_key())
    assert response.status_code == 403
    assert stored(client) == 0


def test_tampered_body_is_refused(client: TestClient) -> None:
    """A body changed after signing is refused with 403."""
    payload = body("delivered")
    when = str(int(time.time()))
    signature = sign(KEY, when, payload)
    response = post(client, payload.replace(b"delivered", b"bounce"), signature=signature)
    assert response.status_code == 403
    assert stored(client) == 0


def test_replayed_old_request_is_refused(client: TestClient) -> None:
    """A correctly signed request older than ten minutes is refused with 403."""
    response = post(client, body("delivered"), stamp=int(time.time()) - 601)
    assert response.status_code == 403
    assert "replayed" in response.text


def test_unsigned_request_is_refused(client: TestClient) -> None:
    """A request without signature headers is refused with 403."""
    response = client.post(WEBHOOK_PATH, content=body("delivered"))
    assert response.status_code == 403


@pytest.mark.parametrize("payload", [b"[{", b'{"event": "x"}', b'[{"event": "open"}]', b"[1]"])
def test_malformed_bodies_are_refused(client: TestClient, payload: bytes) -> None:
    """Truncated, non-array or incomplete bodies, even signed, get 400 and store nothing."""
    response = post(client, payload)
    assert response.status_code == 400
    assert stored(client) == 0


def test_missing_public_key_answers_503(data_dir: Path) -> None:
    """Without a configured verification key nothing is accepted; SendGrid will retry later."""
    with make_client(Settings(data_dir=data_dir)) as test_client:
        response = post(test_client, body("delivered"))
    assert response.status_code == 503
    assert "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY" in response.text
