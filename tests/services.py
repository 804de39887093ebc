"""Finding the real services tests need, and skipping or failing when one is absent.

On a laptop a missing service skips its tests with the reason; in CI
(``NEWSLETTER_REQUIRE_SERVICES=1``) a missing service fails them instead.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

REQUIRED = os.environ.get("NEWSLETTER_REQUIRE_SERVICES") == "1"
# Browser tests write screenshots here (git-ignored) for a person to look at.
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def unavailable(reason: str) -> None:
    """Skip the current test, or fail it when services are required."""
    if REQUIRED:
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        address = (parts.hostname or "127.0.0.1", parts.port or default_port)
        with socket.create_connection(address, 2):
            return True
    except OSError:
        return False


def _service_url(name: str, variable: str, default_port: int) -> str:
    """The URL in ``variable``, or skip/fail when it is unset or nothing answers there."""
    url = os.environ.get(variable, "")
    if not url:
        unavailable(f"{name} tests need {variable}")
    elif not _reachable(url, default_port):
        unavailable(f"{name} at {url} is not reachable")
    return url


def postgres_url() -> str:
    """The PostgreSQL URL for tests, or skip/fail."""
    return _service_url("PostgreSQL", "NEWSLETTER_TEST_DATABASE_URL", 5432)


def redis_url() -> str:
    """The Redis URL for tests (this test process's own database), or skip/fail."""
    return worker_database(_service_url("Redis", "NEWSLETTER_TEST_REDIS_URL", 6379))


def worker_database(url: str) -> str:
    """``url`` with the Redis database of this test process.

    The suite runs in parallel processes (pytest-xdist workers ``gw0``, ``gw1``, ...),
    and tests empty their broker database and start Celery workers on it: each
    process gets its own, the configured number minus the worker's (of Redis's 16).
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    database = (base - int(worker.removeprefix("gw"))) % 16
    return urlunsplit(parts._replace(path=f"/{database}"))


def chromium_path() -> str:
    """The headless Chromium executable, or skip/fail."""
    path = os.environ.get("NEWSLETTER_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        unavailable("browser tests need Chromium (apt-get install chromium)")
    return str(path)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium from the system packages (never downloaded), closed after."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str, *, full: bool = True) -> None:
    """Save what ``page`` shows as ``test-artifacts/<name>``."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full)
