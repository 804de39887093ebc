"""``newsletter web`` builds the app and hands it to uvicorn on 127.0.0.1 by default."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner
from fastapi import FastAPI

from newsletter.app import cli as web_cli
from newsletter.app.cli import listen_url
from newsletter.cli import app


def _capture(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_run(application: FastAPI, **options: Any) -> None:
        seen["app"] = application
        seen["base_url"] = application.state.runtime.settings.base_url
        seen.update(options)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return seen


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket is listening on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_defaults_to_localhost(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without options the app listens on 127.0.0.1:8000."""
    seen = _capture(monkeypatch)
    # Port 8000 may be taken on a developer's machine; the check has its own tests.
    monkeypatch.setattr(web_cli, "check_port_free", lambda host, port: None)
    result = CliRunner().invoke(app, ["web"], env=cli_env, catch_exceptions=False)
    assert result.exit_code == 0
    assert isinstance(seen["app"], FastAPI)
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8000)


def test_host_and_port_options(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """--host and --port override the settings."""
    seen = _capture(monkeypatch)
    port = _free_port()
    CliRunner().invoke(app, ["web", "--host", "0.0.0.0", "--port", str(port)], env=cli_env)
    assert (seen["host"], seen["port"]) == ("0.0.0.0", port)


def test_base_url_follows_the_port_when_not_set(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without NEWSLETTER_BASE_URL, links are built against the address actually served."""
    seen = _capture(monkeypatch)
    port = _free_port()
    result = CliRunner().invoke(app, ["web", "--port", str(port)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert seen["base_url"] == f"http://127.0.0.1:{port}"
    assert f"Serving http://127.0.0.1:{port} (Ctrl+C to stop)" in result.output
    assert ":8000" not in result.output


def test_explicit_base_url_is_kept_and_shown_as_public_address(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A set NEWSLETTER_BASE_URL is used for links and printed as the public address."""
    seen = _capture(monkeypatch)
    port = _free_port()
    env = {**cli_env, "NEWSLETTER_BASE_URL": "https://news.example.org"}
    result = CliRunner().invoke(app, ["web", "--port", str(port)], env=env)
    assert result.exit_code == 0, result.output
    assert seen["base_url"] == "https://news.example.org"
    assert (
        f"Listening on http://127.0.0.1:{port}; public address https://news.example.org"
        in result.output
    )


def test_port_in_use_is_one_line_and_non_zero(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, busy_port: int
) -> None:
    """A port already taken fails before uvicorn starts, with one clear line."""
    seen = _capture(monkeypatch)
    result = CliRunner().invoke(app, ["web", "--port", str(busy_port)], env=cli_env)
    assert result.exit_code == 2
    assert f"--port: cannot listen on http://127.0.0.1:{busy_port}" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert seen == {}


def test_unknown_host_is_one_line(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A host name that does not resolve is refused naming --host."""
    seen = _capture(monkeypatch)
    result = CliRunner().invoke(app, ["web", "--host", "no-such-host.invalid"], env=cli_env)
    assert result.exit_code == 2
    assert "--host: cannot resolve 'no-such-host.invalid'" in result.output
    assert seen == {}


def test_listen_url_brackets_ipv6() -> None:
    """An IPv6 literal is written in brackets so the port stays separate."""
    assert listen_url("::1", 8080) == "http://[::1]:8080"
    assert listen_url("127.0.0.1", 8080) == "http://127.0.0.1:8080"
