"""Finding the real services tests need, and skipping or failing when one is absent.

On a laptop a missing service skips its tests with the reason; in CI
(``NEWSLETTER_REQUIRE_SERVICES=1``) a missing service fails them instead.
"""

from __future__ import annotations

import os
import shutil
import socket
from urllib.parse import urlsplit

import pytest

REQUIRED = os.environ.get("NEWSLETTER_REQUIRE_SERVICES") == "1"


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


def postgres_url() -> str:
    """The PostgreSQL URL for tests, or skip/fail."""
    url = os.environ.get("NEWSLETTER_TEST_DATABASE_URL", "")
    if not url:
        unavailable("PostgreSQL tests need NEWSLETTER_TEST_DATABASE_URL")
    elif not _reachable(url, 5432):
        unavailable(f"PostgreSQL at {url} is not reachable")
    return url


def redis_url() -> str:
    """The Redis URL for tests, or skip/fail."""
    url = os.environ.get("NEWSLETTER_TEST_REDIS_URL", "")
    if not url:
        unavailable("Redis tests need NEWSLETTER_TEST_REDIS_URL")
    elif not _reachable(url, 6379):
        unavailable(f"Redis at {url} is not reachable")
    return url


def chromium_path() -> str:
    """The headless Chromium executable, or skip/fail."""
    path = os.environ.get("NEWSLETTER_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        unavailable("browser tests need Chromium (apt-get install chromium)")
    return str(path)
