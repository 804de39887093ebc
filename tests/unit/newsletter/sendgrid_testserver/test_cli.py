"""``sendgrid-test-server``: starts the server, prints how to point the app at it, stops cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from newsletter.errors import InvalidInputError, RecipientsRejected
from newsletter.providers.interfaces import Batch, Message, Recipient
from newsletter.providers.sendgrid import SendGridSender
from newsletter.sendgrid_testserver import cli as testserver_cli
from newsletter.sendgrid_testserver.server import SendGridTestServer

BATCH = Batch(
    "cli-1",
    Message(from_email="d@p.example", from_name="", subject="s", text="t", html="<p>h</p>"),
    (Recipient("ok@mail.example"), Recipient("refuse@mail.example")),
)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[SendGridTestServer, str]]:
    """Instead of waiting for Ctrl+C, send one real batch to the running server, then return."""
    seen: list[tuple[SendGridTestServer, str]] = []

    def drive(server: SendGridTestServer) -> None:
        seen.append((server, server.url))
        sender = SendGridSender(server.api_key, host=server.url, timeout=5)
        try:
            sender.send_batch(BATCH)
        except RecipientsRejected:
            sender.send_batch(Batch(BATCH.key, BATCH.message, BATCH.recipients[:1]))

    monkeypatch.setattr(testserver_cli, "_wait", drive)
    return seen


def test_serves_until_stopped_and_prints_the_settings(
    served: list[tuple[SendGridTestServer, str]],
) -> None:
    """The command prints host, key and public key settings, logs requests, and a summary."""
    result = CliRunner().invoke(
        testserver_cli.sendgrid_test_server,
        ["--port", "0", "--api-key", "SG.staging", "--invalid-address", "refuse@mail.example"],
    )
    assert result.exit_code == 0, result.output
    ((server, url),) = served
    assert f"NEWSLETTER_SENDGRID_API_HOST={url}" in result.output
    assert "NEWSLETTER_SENDGRID_API_KEY=SG.staging" in result.output
    assert f"NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY={server.public_key}" in result.output
    assert "400 rejected: Does not contain a valid address." in result.output
    assert "202 accepted 1 recipient(s)" in result.output
    assert "Stopped: 1 request(s) accepted, 1 rejected." in result.output


def test_signing_key_file_is_created_once_and_reused(
    served: list[tuple[SendGridTestServer, str]], tmp_path: Path
) -> None:
    """--signing-key writes a private key file on first run; later runs keep the same public key."""
    path = tmp_path / "events.pem"
    for _ in range(2):
        result = CliRunner().invoke(
            testserver_cli.sendgrid_test_server, ["--port", "0", "--signing-key", str(path)]
        )
        assert result.exit_code == 0, result.output
    (first, _), (second, _) = served
    assert first.public_key == second.public_key
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a key", "not an unencrypted PEM private key"),
        (
            rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "not an elliptic-curve private key",
        ),
    ],
)
def test_a_signing_key_file_that_is_not_an_ec_key_is_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    """A file that holds no usable EC private key is an input error naming the file."""
    path = tmp_path / "events.pem"
    path.write_bytes(content)
    result = CliRunner().invoke(
        testserver_cli.sendgrid_test_server, ["--port", "0", "--signing-key", str(path)]
    )
    assert isinstance(result.exception, InvalidInputError)
    assert str(result.exception).startswith(f"{path}: {message}")


def test_waiting_ends_on_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default wait returns quietly when the user presses Ctrl+C."""

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("time.sleep", interrupted)
    testserver_cli._wait(SendGridTestServer())


def test_latency_option_reaches_the_server_and_is_bounded(
    served: list[tuple[SendGridTestServer, str]],
) -> None:
    """``--latency`` sets the server's wait; a negative one is refused naming the option."""
    result = CliRunner().invoke(
        testserver_cli.sendgrid_test_server,
        ["--port", "0", "--latency", "0.05", "--invalid-address", "refuse@mail.example"],
    )
    assert result.exit_code == 0, result.output
    ((server, _),) = served
    assert server.latency == 0.05
    assert "202 accepted 1 recipient(s)" in result.output
    refused = CliRunner().invoke(testserver_cli.sendgrid_test_server, ["--latency", "-1"])
    assert refused.exit_code == 2
    assert "--latency" in refused.output


def test_fault_event_and_clock_options_reach_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random fault kinds and delay, event delay and drop rate, and a clock offset are applied."""
    seen: list[SendGridTestServer] = []
    monkeypatch.setattr(testserver_cli, "_wait", seen.append)
    result = CliRunner().invoke(
        testserver_cli.sendgrid_test_server,
        [
            "--port", "0", "--fault-rate", "0.25", "--fault-kind", "late_answer",
            "--fault-kind", "server_error", "--fault-delay", "40", "--event-delay", "900",
            "--event-drop-rate", "0.5", "--clock-offset", "600",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (server,) = seen
    assert [(f.kind.value, f.delay) for f in server.random_faults] == [
        ("late_answer", 40.0),
        ("server_error", 0.0),
    ]
    assert (server.event_delay, server.event_drop_rate, server.clock_offset) == (900.0, 0.5, 600.0)
    assert "/_test/clock" in result.output
