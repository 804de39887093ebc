"""``newsletter web`` builds the app and hands it to uvicorn on 127.0.0.1 by default."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner
from fastapi import FastAPI

from newsletter.app import cli as web_cli
from newsletter.app.cli import check_publication_addresses, listen_url
from newsletter.app.factory import serve
from newsletter.cli import app
from newsletter.db import Database
from newsletter.errors import ConfigError
from newsletter.runtime import Runtime
from newsletter.settings import Settings, load_settings
from tests.unit.subscribers.factories import seed


def _capture(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def fake_run(application: FastAPI | str, **options: Any) -> None:
        seen["app"] = application
        if isinstance(application, FastAPI):
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


def test_trusted_proxies_and_logs_reach_uvicorn(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app applies NEWSLETTER_TRUSTED_PROXIES itself; uvicorn's copy is off."""
    seen = _capture(monkeypatch)
    env = {**cli_env, "NEWSLETTER_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16"}
    result = CliRunner().invoke(app, ["web", "--port", str(_free_port())], env=env)
    assert result.exit_code == 0, result.output
    assert seen["proxy_headers"] is False
    assert seen["forwarded_allow_ips"] == ["10.0.0.5", "10.1.0.0/16"]
    assert "uvicorn.access" in seen["log_config"]["loggers"]
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == cli_env["NEWSLETTER_DATA_DIR"] + "/metrics"


def test_workers_run_the_factory_in_n_processes(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--workers 3: uvicorn imports the factory in each process; the derived address travels."""
    seen = _capture(monkeypatch)
    port = _free_port()
    result = CliRunner().invoke(app, ["web", "--port", str(port), "--workers", "3"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert (seen["app"], seen["factory"], seen["workers"]) == (
        "newsletter.app.factory:serve",
        True,
        3,
    )
    assert os.environ["NEWSLETTER_BASE_URL"] == f"http://127.0.0.1:{port}"
    monkeypatch.setenv("NEWSLETTER_DATA_DIR", cli_env["NEWSLETTER_DATA_DIR"])
    served = serve()  # what each worker process builds
    assert served.state.runtime.settings.base_url == f"http://127.0.0.1:{port}"
    served.state.runtime.close()


def test_workers_out_of_range_are_refused(cli_env: dict[str, str]) -> None:
    """--workers 0 is click's one-line usage error naming the option."""
    result = CliRunner().invoke(app, ["web", "--workers", "0"], env=cli_env)
    assert result.exit_code == 2
    assert "--workers" in result.output


def test_a_publication_elsewhere_is_announced(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which address builds which link, said at start when a publication's differs."""
    _capture(monkeypatch)
    port = _free_port()
    runtime = Runtime(load_settings(data_dir=cli_env["NEWSLETTER_DATA_DIR"]))
    runtime.ensure_schema()
    seed(runtime.database, "daily", base_url="https://daily.example.org")
    runtime.close()
    result = CliRunner().invoke(app, ["web", "--port", str(port)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert (
        "Publication 'daily': archive and feed links use its base_url https://daily.example.org; "
        f"confirm, unsubscribe and preferences links use http://127.0.0.1:{port}"
    ) in " ".join(result.output.split())


@pytest.mark.parametrize(
    "address", ["http://daily.example.org", "https://127.0.0.1:8000", "https://localhost"]
)
def test_production_refuses_a_publication_readers_cannot_reach(
    database: Database, address: str
) -> None:
    """In production a publication's http or loopback address stops the start, naming it."""
    seed(database, "daily", base_url=address)
    settings = Settings(
        environment="production",
        secret_key="s3cret-" + "0123456789abcdef" * 3,
        base_url="https://news.example.org",
        database_url="postgresql://news@db.internal/news",
        broker_url="redis://cache.internal/0",
    )
    with database.session() as session, pytest.raises(ConfigError) as caught:
        check_publication_addresses(session, settings)
    assert str(caught.value).startswith("publication 'daily' base_url: must be ")
    assert "in production" in str(caught.value)
