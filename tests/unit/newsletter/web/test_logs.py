"""Access logs never carry the tokens of personal links."""

from __future__ import annotations

import logging

import pytest

from newsletter.web import logs


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/u/1-1.abc.def", "/u/[token]"),
        ("/unsubscribe/1-1.abc.def?x=1", "/unsubscribe/[token]?x=1"),
        ("/preferences/9-2.zz.yy", "/preferences/[token]"),
        ("/confirm/3-1.q.r", "/confirm/[token]"),
        ("/p/morning/2026-11-25/", "/p/morning/2026-11-25/"),
        ("/subscribe/morning", "/subscribe/morning"),
    ],
)
def test_redact_replaces_only_tokens(path: str, expected: str) -> None:
    """Token segments are replaced; other paths are left as they are."""
    assert logs.redact(path) == expected


def test_access_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """An access-log line built the way uvicorn builds it shows no token."""
    logs.install()
    logs.install()  # idempotent
    access = logging.getLogger("uvicorn.access")
    assert sum(isinstance(f, logs.RedactTokens) for f in access.filters) == 1
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        access.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "POST", "/u/1-1.secret.sig", "1.1", 200
        )
    assert "secret" not in caplog.text
    assert "/u/[token]" in caplog.text
