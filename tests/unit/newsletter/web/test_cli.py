"""``newsletter web`` builds the app and hands it to uvicorn on 127.0.0.1 by default."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner
from fastapi import FastAPI

from newsletter.cli import app


def _capture(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_run(application: object, **options: Any) -> None:
        seen["app"] = application
        seen.update(options)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return seen


def test_defaults_to_localhost(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without options the app listens on 127.0.0.1:8000."""
    seen = _capture(monkeypatch)
    result = CliRunner().invoke(app, ["web"], env=cli_env, catch_exceptions=False)
    assert result.exit_code == 0
    assert isinstance(seen["app"], FastAPI)
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8000)


def test_host_and_port_options(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """--host and --port override the settings."""
    seen = _capture(monkeypatch)
    CliRunner().invoke(app, ["web", "--host", "0.0.0.0", "--port", "9001"], env=cli_env)
    assert (seen["host"], seen["port"]) == ("0.0.0.0", 9001)
