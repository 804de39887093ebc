"""Health, readiness, metrics, request ids, JSON logs and the trusted proxies.

The app on a real SQLite database and the real filesystem broker; an unreachable
broker and database are real too (a closed port in this test's range, 19700-19799).
"""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.app.observe import exposition
from newsletter.db import Database, utcnow
from newsletter.delivery.inbox import store_post
from newsletter.settings import Settings, metrics_environment
from newsletter.web import requests as request_ids
from tests.unit.subscribers.factories import seed

CLOSED = "127.0.0.1:19797"  # nothing listens here
ROOT = Path(__file__).resolve().parents[4]


def make_app(data_dir: Path, **settings: object) -> FastAPI:
    """An app with one publication ("daily") and its list."""
    app = create_app(Settings(data_dir=data_dir, **settings))  # type: ignore[arg-type]
    seed(app.state.runtime.database)
    return app


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    """A client of an app on the embedded default (SQLite, filesystem broker)."""
    with TestClient(make_app(data_dir)) as test_client:
        yield test_client


def sample(text: str, name: str, labels: str = "") -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    pattern = rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_healthz_answers_without_touching_anything(client: TestClient) -> None:
    """The process is up: 200 ok, never cached."""
    response = client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")
    assert response.headers["cache-control"] == "no-store"


def test_readyz_checks_the_database_and_the_broker(client: TestClient) -> None:
    """Both reachable (SQLite file, filesystem broker): 200 and each one 'ok'."""
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"ready": True, "database": "ok", "broker": "ok"}


def test_readyz_is_503_when_the_broker_is_down(data_dir: Path) -> None:
    """A Redis broker nobody answers for: 503 naming the broker, the database still ok."""
    app = make_app(data_dir, broker_url=f"redis://{CLOSED}/0")
    with TestClient(app) as test_client:
        response = test_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["database"] == "ok"
    assert body["broker"].startswith("unreachable")


def test_readyz_is_503_when_the_database_is_down(data_dir: Path) -> None:
    """The database stops answering (a PostgreSQL nobody listens for): 503 naming it."""
    app = make_app(data_dir)
    app.state.runtime.database = Database(f"postgresql://nobody@{CLOSED}/none?connect_timeout=2")
    with TestClient(app) as test_client:
        response = test_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"].startswith("unreachable")
    assert response.json()["broker"] == "ok"


def test_metrics_read_states_and_ages_from_the_database(client: TestClient) -> None:
    """Gauges reflect the rows at scrape time: a webhook post waiting ten minutes."""
    database: Database = client.app.state.runtime.database  # type: ignore[attr-defined]
    before = client.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain; version=")
    assert sample(before.text, "newsletter_event_lag_seconds") == 0
    assert sample(before.text, "newsletter_batches", '{state="planned"}') == 0
    assert 'newsletter_digests{state="sent"} 0.0' in before.text
    with database.session() as session:
        store_post(session, "[]", 0, now=utcnow() - timedelta(minutes=10))
    after = client.get("/metrics").text
    assert 600 <= sample(after, "newsletter_event_lag_seconds") < 700
    assert "newsletter_queue_age_seconds 0.0" in after


def test_a_throttle_refusal_is_counted(data_dir: Path) -> None:
    """A sign-up refused with 429 adds one to newsletter_throttle_refusals{throttle=signup}."""
    app = make_app(data_dir, signup_limit_per_ip=1)
    with TestClient(app) as test_client:
        key = 'newsletter_throttle_refusals_total{throttle="signup"}'
        before = sample(test_client.get("/metrics").text, key)
        form = {"email": "a@example.org", "name": "A"}
        assert test_client.post("/subscribe/daily", data=form).status_code == 200
        form["email"] = "b@example.org"
        assert test_client.post("/subscribe/daily", data=form).status_code == 429
        assert sample(test_client.get("/metrics").text, key) == before + 1


def _sign_up(test_client: TestClient, email: str, forwarded_for: str) -> int:
    form = {"email": email, "name": "A"}
    headers = {"x-forwarded-for": forwarded_for}
    return test_client.post("/subscribe/daily", data=form, headers=headers).status_code


def test_behind_a_trusted_proxy_each_visitor_has_their_own_limit(data_dir: Path) -> None:
    """The proxy (10.0.0.5) is trusted: the throttle counts the forwarded addresses."""
    app = make_app(data_dir, signup_limit_per_ip=1, trusted_proxies="10.0.0.5")
    with TestClient(app, client=("10.0.0.5", 40000)) as proxied:
        assert _sign_up(proxied, "a@example.org", "198.51.100.1") == 200
        assert _sign_up(proxied, "b@example.org", "198.51.100.2") == 200
        assert _sign_up(proxied, "c@example.org", "198.51.100.1") == 429


def test_an_untrusted_proxy_is_one_client(data_dir: Path) -> None:
    """The measured fault: a proxy not in the list makes every visitor one address."""
    app = make_app(data_dir, signup_limit_per_ip=1)  # default: only 127.0.0.1 trusted
    with TestClient(app, client=("10.0.0.5", 40000)) as proxied:
        assert _sign_up(proxied, "a@example.org", "198.51.100.1") == 200
        assert _sign_up(proxied, "b@example.org", "198.51.100.2") == 429


def test_a_visitor_cannot_forge_their_address(data_dir: Path) -> None:
    """Only the trusted proxy's X-Forwarded-For counts: a header sent directly is ignored."""
    app = make_app(data_dir, signup_limit_per_ip=1, trusted_proxies="10.0.0.5")
    with TestClient(app, client=("203.0.113.7", 40000)) as direct:
        assert _sign_up(direct, "a@example.org", "198.51.100.1") == 200
        assert _sign_up(direct, "b@example.org", "198.51.100.2") == 429


def test_request_ids_are_answered(client: TestClient) -> None:
    """A fresh id per request, or the proxy's when it is a sane token."""
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second
    kept = client.get("/healthz", headers={"x-request-id": "nginx-abc.123"})
    assert kept.headers["x-request-id"] == "nginx-abc.123"
    odd = client.get("/healthz", headers={"x-request-id": "<script>" + "x" * 80})
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["x-request-id"])


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The process's logs as JSON lines, captured; logging restored afterwards.

    Before, uvicorn's loggers are set as an earlier server in this process leaves them
    (``log_level="warning"``, as the browser tests run it): JSON logging must not
    depend on what ran before.
    """
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    loggers = [logging.getLogger(name) for name in UVICORN_LOGGERS]
    kept = [(lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    assert request_ids.configure("json") is None
    yield stream
    root.handlers, root.level = saved
    for logger, (handlers, level, propagate, disabled) in zip(loggers, kept, strict=True):
        logger.handlers, logger.propagate, logger.disabled = handlers, propagate, disabled
        logger.setLevel(level)


def test_json_log_lines_carry_the_request_id(data_dir: Path, json_logs: io.StringIO) -> None:
    """A line logged while a request runs names its request id; every line is JSON."""
    app = make_app(data_dir)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("on purpose")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/boom", headers={"x-request-id": "req-42"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-42"  # the 500 page carries it too
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line]
    (error,) = [line for line in lines if line["message"].startswith("unhandled error")]
    assert error["request_id"] == "req-42"
    assert error["level"] == "ERROR"
    assert {"time", "logger"} <= set(error)


def test_server_error_page_carries_a_fresh_request_id(data_dir: Path) -> None:
    """Without an id from the proxy, the 500 page carries a fresh one (as every response does)."""
    app = make_app(data_dir)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("on purpose")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/boom")
        ok = test_client.get("/healthz")
    assert response.status_code == 500
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert response.headers["x-request-id"] != ok.headers["x-request-id"]
    assert "Something went wrong" in response.text


def test_access_lines_become_fields(json_logs: io.StringIO) -> None:
    """uvicorn's access line spelled out: client, method, path (tokens redacted), status."""
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "198.51.100.1:5", "GET", "/preferences/secret-tok", "1.1", 200
    )
    (line,) = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["client"] == "198.51.100.1:5"
    assert "secret-tok" not in json.dumps(line)


def test_terminal_colours_stay_out_of_json(json_logs: io.StringIO) -> None:
    """uvicorn's coloured copy of a message is dropped from the JSON line."""
    logging.getLogger("uvicorn.error").info("Started", extra={"color_message": "\x1b[1mStarted"})
    (line,) = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    assert line["message"] == "Started"
    assert "color_message" not in line


def test_text_logs_keep_uvicorns_configuration() -> None:
    """Without NEWSLETTER_LOG_FORMAT=json, uvicorn configures its loggers as before."""
    config = request_ids.configure("text")
    assert config is not None
    assert "uvicorn.access" in config["loggers"]


COUNT = """
from newsletter import metrics
metrics.THROTTLE_REFUSALS.labels("signin").inc()
metrics.request_outcome("accepted", 250)
"""


def test_counters_add_up_across_processes(
    data_dir: Path, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes counting in NEWSLETTER_METRICS_DIR: /metrics serves their sum."""
    env = {
        "PYTHONPATH": str(ROOT),
        "PATH": "/usr/bin:/bin",
        **metrics_environment(Settings(data_dir=data_dir)),
    }
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(data_dir / "metrics")
    for _ in range(2):
        subprocess.run([sys.executable, "-c", COUNT], env=env, check=True, cwd=ROOT)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", env["PROMETHEUS_MULTIPROC_DIR"])
    text = exposition(database).decode()
    assert sample(text, "newsletter_throttle_refusals_total", '{throttle="signin"}') == 2
    assert sample(text, "newsletter_send_recipients_total", '{outcome="accepted"}') == 500
    assert "newsletter_queue_age_seconds 0.0" in text  # the database's gauges as well
