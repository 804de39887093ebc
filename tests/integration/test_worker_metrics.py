"""A machine that runs workers without the web app is scraped at the worker.

``NEWSLETTER_WORKER_METRICS_PORT`` makes ``newsletter worker`` serve the counters every
process of the machine writes (prometheus-client multiprocess mode) from its own main
process. A real ``python -m newsletter worker`` (its Celery worker and prefork pool as
children) sends an edition on the embedded defaults (SQLite, filesystem broker, outbox),
and the worker's endpoint then shows what its pool processes counted.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.digests.models import DigestState
from tests.integration.pipeline_stack import FINAL, Stack, free_port

pytestmark = pytest.mark.slow

READERS = 30
WORKER = (sys.executable, "-m", "newsletter", "worker", "--grace", "20")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """An embedded deployment with the worker's metrics port set."""
    url = f"sqlite:///{tmp_path / 'var' / 'newsletter.sqlite3'}"
    port = free_port()
    deployment = Stack(
        tmp_path,
        url,
        email_backend="outbox",
        batch_size=10,
        extra_env={
            "NEWSLETTER_WORKER_METRICS_PORT": str(port),
            "NEWSLETTER_METRICS_DIR": str(tmp_path / "metrics"),
        },
    )
    deployment.start_services()
    try:
        yield deployment
    finally:
        deployment.stop()


def scrape(port: int) -> str:
    """The worker's metrics text, or '' while nothing listens yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return str(answer.read().decode())
    except OSError:
        return ""


def sample(text: str, name: str, outcome: str) -> float:
    """The value of ``name{outcome="..."}`` in the metrics text (0 when absent)."""
    found = re.search(rf'^{name}\{{outcome="{outcome}"\}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_worker_serves_the_machines_send_counters(stack: Stack) -> None:
    """After a send, the worker's endpoint counts every accepted request and recipient."""
    port = int(stack.extra_env["NEWSLETTER_WORKER_METRICS_PORT"])
    stack.seed(READERS)
    stack.send_now()
    log = stack.root / "newsletter-worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [*WORKER, "--concurrency=2", "--without-mingle", "--without-gossip"],
            env=stack.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.processes["newsletter-worker"] = worker  # stopped (whole group) by the fixture
    stack.start("beat")
    try:
        before = stack.wait(lambda: scrape(port), timeout=60, what="the worker's endpoint")
        assert sample(before, "newsletter_send_requests_total", "accepted") == 0
        stack.wait(lambda: stack.digest_state() in FINAL, timeout=180, what="the edition")
        assert stack.digest_state() is DigestState.SENT
        text = scrape(port)
        assert sample(text, "newsletter_send_requests_total", "accepted") == READERS // 10
        assert sample(text, "newsletter_send_recipients_total", "accepted") == READERS
        assert f"worker metrics on http://127.0.0.1:{port}/metrics" in log.read_text()
    except AssertionError:
        print(stack.logs())
        raise
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)


def test_a_taken_port_is_said_and_the_worker_runs_on(tmp_path: Path) -> None:
    """A second worker of the machine on the same port says so in one line and keeps
    working (the first already serves the same counters)."""
    from newsletter.processes import serve_counters

    folder = tmp_path / "metrics"
    folder.mkdir()
    port = free_port()
    first = serve_counters("127.0.0.1", port, str(folder))
    assert first is not None
    try:
        assert serve_counters("127.0.0.1", port, str(folder)) is None
    finally:
        first.shutdown()
        first.server_close()
