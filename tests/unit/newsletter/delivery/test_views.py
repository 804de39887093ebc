"""The Event Webhook stores a post only if signed, fresh and well formed, and answers at once."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from newsletter.app import apply_requests
from newsletter.app.factory import create_app
from newsletter.db import Database
from newsletter.delivery import views
from newsletter.delivery.events import EventsResult, InboxResult, apply_pending
from newsletter.delivery.inbox import WebhookPost
from newsletter.delivery.models import DeliveryEvent
from newsletter.delivery.views import WEBHOOK_PATH, gate_for, router
from newsletter.providers.webhook_protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER
from newsletter.sendgrid_testserver.events import generate_signing_key, public_key_b64, sign
from newsletter.settings import Settings

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


def database_of(client: TestClient) -> Database:
    return client.app.state.runtime.database  # type: ignore[attr-defined,no-any-return]


def settle(client: TestClient) -> InboxResult:
    """Apply the stored posts now, as the worker's task would."""
    return apply_pending(database_of(client))


def stored(client: TestClient) -> int:
    """Events applied so far, after applying whatever posts are pending."""
    settle(client)
    with database_of(client).session() as session:
        return int(session.scalar(select(func.count()).select_from(DeliveryEvent)) or 0)


def posts(client: TestClient) -> int:
    with database_of(client).session() as session:
        return int(session.scalar(select(func.count()).select_from(WebhookPost)) or 0)


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
    """A signed, fresh body is stored with 200; its replay is stored but applies nothing new."""
    payload = body("processed", "open")
    stored_before = REGISTRY.get_sample_value(POSTS, {"outcome": "stored"}) or 0
    events_before = REGISTRY.get_sample_value("newsletter_webhook_events_total") or 0
    first = post(client, payload)
    assert REGISTRY.get_sample_value(POSTS, {"outcome": "stored"}) == stored_before + 1
    assert REGISTRY.get_sample_value("newsletter_webhook_events_total") == events_before + 2
    assert first.status_code == 200
    assert first.json() == {"received": 2, "post": 1}
    assert posts(client) == 1
    assert settle(client).events == EventsResult(unmatched=2)
    again = post(client, payload)
    assert again.json() == {"received": 2, "post": 2}
    assert settle(client).events == EventsResult(duplicates=2)
    assert stored(client) == 2


POSTS = "newsletter_webhook_posts_total"


def wait_for(condition: Any, what: str, timeout: float = 20.0) -> None:
    """Wait until ``condition()`` holds, failing with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_a_stored_post_is_handed_to_a_worker(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After storing a post, the view has the broker asked for the apply task, once."""
    from tasks.events import APPLY_TASK

    sent: list[str] = []
    app = apply_requests.celery_for(client.app.state.runtime)  # type: ignore[attr-defined]
    monkeypatch.setattr(app, "send_task", lambda name, **_: sent.append(name))
    assert post(client, body("delivered")).status_code == 200
    wait_for(lambda: sent == [APPLY_TASK], "the apply request")
    time.sleep(0.05)  # a second message would have been sent by now; none is
    assert sent == [APPLY_TASK]


def test_a_broker_that_is_down_does_not_fail_the_post(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post is stored and answered 200 even if the apply request cannot be sent (beat retries)."""
    from kombu.exceptions import OperationalError

    tried: list[str] = []

    def refuse(name: str, **_: Any) -> None:
        tried.append(name)
        raise OperationalError("connection refused")

    app = apply_requests.celery_for(client.app.state.runtime)  # type: ignore[attr-defined]
    monkeypatch.setattr(app, "send_task", refuse)
    assert post(client, body("delivered")).status_code == 200
    assert posts(client) == 1
    wait_for(lambda: tried, "the refused apply request")
    monkeypatch.setattr(app, "send_task", lambda name, **_: tried.append(name))
    assert post(client, body("delivered")).status_code == 200
    wait_for(lambda: len(tried) == 2, "the next post's request, by the same requester")


class Blocking:
    """A stand-in for the app's ``request_apply`` that records each call and waits to be let go."""

    def __init__(self) -> None:
        self.calls = 0
        self.go = threading.Event()

    def __call__(self, runtime: Any) -> None:
        self.calls += 1
        self.go.wait(20)


def test_requests_made_during_a_send_become_one_more_message(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asks while a request is being sent fold into one message sent after it, never zero."""
    blocking = Blocking()
    requester = views.Requester(client.app.state.runtime, blocking)  # type: ignore[attr-defined]
    requester.ask()
    wait_for(lambda: blocking.calls == 1, "the first send to start")
    for _ in range(10):
        requester.ask()
    blocking.go.set()
    wait_for(lambda: requester.sent == 2, "the folded second send")
    time.sleep(0.05)  # no third message follows
    assert blocking.calls == 2


def test_an_idle_requester_thread_ends_and_a_new_ask_starts_another(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sending thread ends when idle, and the next ask still gets its message sent."""
    blocking = Blocking()
    blocking.go.set()
    monkeypatch.setattr(views.Requester, "IDLE_S", 0.01)
    requester = views.Requester(client.app.state.runtime, blocking)  # type: ignore[attr-defined]
    requester.ask()
    wait_for(lambda: requester.sent == 1 and requester.thread is None, "the idle thread to end")
    requester.ask()
    wait_for(lambda: requester.sent == 2, "the second thread's send")


def test_a_failing_send_does_not_stop_later_requests(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error while sending is logged and the next ask is still sent."""
    calls: list[int] = []

    def broken(runtime: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("unexpected")

    requester = views.Requester(client.app.state.runtime, broken)  # type: ignore[attr-defined]
    requester.ask()
    wait_for(lambda: requester.sent == 1, "the failed send")
    requester.ask()
    wait_for(lambda: requester.sent == 2, "the send after the failure")
    assert len(calls) == 2


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
    assert posts(client) == 0


def test_missing_public_key_answers_503(data_dir: Path) -> None:
    """Without a configured verification key nothing is accepted; SendGrid will retry later."""
    with make_client(Settings(data_dir=data_dir)) as test_client:
        response = post(test_client, body("delivered"))
    assert response.status_code == 503
    assert "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY" in response.text


def signed_headers(payload: bytes) -> dict[str, str]:
    when = str(int(time.time()))
    return {
        SIGNATURE_HEADER: sign(KEY, when, payload),
        TIMESTAMP_HEADER: when,
        "Content-Type": "application/json",
    }


@pytest.fixture
def live(data_dir: Path) -> Iterator[tuple[str, Database]]:
    """The app under a real uvicorn server on 127.0.0.1, on a SQLite file; its URL and database."""
    settings = Settings(data_dir=data_dir, sendgrid_webhook_public_key=public_key_b64(KEY))
    app = make_client(settings).app
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}{WEBHOOK_PATH}", app.state.runtime.database
    server.should_exit = True
    thread.join(timeout=20)
    sock.close()


def http_post(url: str, payload: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, payload, signed_headers(payload), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_burst_of_concurrent_posts_is_stored_once_each(live: tuple[str, Database]) -> None:
    """Fifty signed posts at once (ten of them resent) all get 200 and store each event once."""
    url, database = live
    bodies = [body("processed", "delivered", "open") for _ in range(50)]
    with ThreadPoolExecutor(max_workers=60) as pool:
        answers = list(pool.map(lambda p: http_post(url, p), bodies + bodies[:10]))
    assert [status for status, _ in answers] == [200] * 60
    assert sorted(answer["post"] for _, answer in answers) == list(range(1, 61))
    applied = apply_pending(database)
    assert applied.posts == 60
    assert applied.events == EventsResult(unmatched=150, duplicates=30)
    with database.session() as session:
        ids = session.scalars(select(DeliveryEvent.sg_event_id)).all()
    sent = {item["sg_event_id"] for payload in bodies for item in json.loads(payload)}
    assert sorted(ids) == sorted(sent)


def test_a_locked_database_answers_503_quickly(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another writer holds the database, a post gets 503 with Retry-After, not a hang."""
    monkeypatch.setattr(views, "LOCK_WAIT_MS", 200)
    database: Database = client.app.state.runtime.database  # type: ignore[attr-defined]
    holder = sqlite3.connect(database.engine.url.database or "", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        payload = body("delivered")
        response = post(client, payload)
        elapsed = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == views.RETRY_AFTER
    assert "database is unavailable" in response.text
    assert elapsed < 5
    assert post(client, payload).status_code == 200  # SendGrid's retry then goes through
    assert posts(client) == 1
    assert stored(client) == 1
    with database.engine.connect() as connection:  # the pooled connection got its patience back
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000


def test_posts_beyond_the_concurrency_bound_get_503(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When every slot stays taken past the queue wait, a post is told to come back later."""
    monkeypatch.setattr(views, "QUEUE_WAIT", 0.05)
    gate = gate_for(database_of(client))
    taken = 0
    while gate.acquire(blocking=False):
        taken += 1
    assert taken == 1  # SQLite: one store at a time per process, the others queue
    try:
        response = post(client, body("delivered"))
    finally:
        for _ in range(taken):
            gate.release()
    assert response.status_code == 503
    assert "too many posts at once" in response.text
    assert posts(client) == 0
    assert post(client, body("delivered")).status_code == 200


def test_signed_events_are_stored_on_postgresql(pg_database: Database, data_dir: Path) -> None:
    """On PostgreSQL the short lock waits apply per transaction and events are stored once."""
    settings = Settings(
        data_dir=data_dir,
        database_url=pg_database.engine.url.render_as_string(hide_password=False),
        sendgrid_webhook_public_key=public_key_b64(KEY),
    )
    payload = body("processed", "delivered")
    with make_client(settings) as test_client:
        assert post(test_client, payload).status_code == 200
        assert post(test_client, payload).status_code == 200
        assert settle(test_client).events == EventsResult(unmatched=2, duplicates=2)
        assert stored(test_client) == 2
        assert gate_for(database_of(test_client))._value == views.MAX_CONCURRENT_STORES


def test_a_large_post_is_compressed_with_lz4_on_postgresql(
    pg_database: Database, data_dir: Path
) -> None:
    """On a server with lz4 the stored body is compressed with it (the default is slower)."""
    settings = Settings(
        data_dir=data_dir,
        database_url=pg_database.engine.url.render_as_string(hide_password=False),
        sendgrid_webhook_public_key=public_key_b64(KEY),
    )
    with make_client(settings) as test_client:
        assert post(test_client, body(*["delivered"] * 200)).status_code == 200
    with pg_database.engine.connect() as connection:
        methods = connection.exec_driver_sql(
            "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
        if "lz4" not in methods:
            pytest.skip("this PostgreSQL server was built without lz4")
        used = connection.exec_driver_sql(
            "SELECT pg_column_compression(body) FROM webhook_posts"
        ).scalar()
    assert used == "lz4"


def test_posts_are_checkpointed_after_the_answer(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's log is checkpointed by the requester thread, not in the post's own commit."""
    checkpoints: list[Database] = []
    monkeypatch.setattr(client.app.state, "request_apply", lambda runtime: None)
    monkeypatch.setattr(views, "checkpoint", checkpoints.append)
    assert post(client, body("delivered")).status_code == 200
    wait_for(lambda: checkpoints == [database_of(client)], "the checkpoint after the post")
