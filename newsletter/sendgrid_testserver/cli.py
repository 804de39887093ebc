"""``newsletter sendgrid-test-server``: run the SendGrid-compatible test server for staging."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter.console import out
from newsletter.errors import InvalidInputError
from newsletter.sendgrid_testserver.faults import DEFAULT_RANDOM_FAULTS, FaultKind, fault_named

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from newsletter.sendgrid_testserver.server import SendGridTestServer

# Start-up stays cheap (``newsletter sendgrid-test-server --help``): the server, and
# with it cryptography and the SendGrid client, is imported when the command runs.


@click.command("sendgrid-test-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=3030, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--api-key",
    default="SG.test-key",
    show_default=True,
    help="The key clients must send (set NEWSLETTER_SENDGRID_API_KEY to it).",
)
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Share of requests answered with a random fault (429, 500, dropped connection).",
)
@click.option(
    "--fault-kind",
    "fault_kinds",
    multiple=True,
    type=click.Choice([k.value for k in FaultKind]),
    help="A fault random faults are drawn from (repeatable; default 429, 500, dropped answer).",
)
@click.option(
    "--fault-delay",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.0, 3600.0),
    help="Seconds a random slow or late_answer fault waits (longer than the client timeout).",
)
@click.option("--seed", type=int, default=None, help="Seed for the random faults and drops.")
@click.option(
    "--latency",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 60.0),
    help="Seconds every request waits before it is handled, like a trip over the internet.",
)
@click.option(
    "--invalid-address",
    "invalid",
    multiple=True,
    help="An address to refuse as SendGrid refuses a bad one (repeatable).",
)
@click.option(
    "--webhook-url",
    default="",
    help="Post signed processed and delivered events for accepted mail to this URL.",
)
@click.option(
    "--event-delay",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 86_400.0),
    help="Seconds each automatic event post waits before it is sent (a webhook backlog).",
)
@click.option(
    "--event-drop-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Share of automatic event posts never sent.",
)
@click.option(
    "--clock-offset",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 30 * 86_400.0),
    help="Start the server's clock this many seconds ahead (scheduled mail goes out sooner).",
)
@click.option(
    "--signing-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PEM file of the event-signing key, created if missing (keeps the public key stable).",
)
def sendgrid_test_server(
    host: str,
    port: int,
    api_key: str,
    fault_rate: float,
    fault_kinds: tuple[str, ...],
    fault_delay: float,
    seed: int | None,
    latency: float,
    invalid: tuple[str, ...],
    webhook_url: str,
    event_delay: float,
    event_drop_rate: float,
    clock_offset: float,
    signing_key: Path | None,
) -> None:
    """Serve a SendGrid-compatible Mail Send API that checks and records requests."""
    from newsletter.sendgrid_testserver.server import SendGridTestServer

    server = SendGridTestServer(
        host=host,
        port=port,
        api_key=api_key,
        signing_key=_load_or_create_key(signing_key) if signing_key else None,
        invalid_addresses=invalid,
        fault_rate=fault_rate,
        random_faults=tuple(fault_named(k, fault_delay) for k in fault_kinds)
        or DEFAULT_RANDOM_FAULTS,
        seed=seed,
        latency=latency,
        webhook_url=webhook_url,
        event_delay=event_delay,
        event_drop_rate=event_drop_rate,
        log=lambda line: out.print(line, markup=False),
    )
    with server:
        if clock_offset:
            server.advance(clock_offset)
        out.print(f"SendGrid test server listening on {server.url}", markup=False)
        out.print(f"  NEWSLETTER_SENDGRID_API_HOST={server.url}", markup=False)
        out.print(f"  NEWSLETTER_SENDGRID_API_KEY={api_key}", markup=False)
        out.print(f"  NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY={server.public_key}", markup=False)
        out.print(
            f"Test controls (not SendGrid's): {server.url}/_test/clock, /_test/faults, "
            "/_test/state",
            markup=False,
        )
        out.print("Press Ctrl+C to stop.", markup=False)
        _wait(server)
    out.print(
        f"Stopped: {len(server.accepted)} request(s) accepted, {len(server.rejected)} rejected.",
        markup=False,
    )


def _wait(server: SendGridTestServer) -> None:
    """Block until Ctrl+C (tests replace this to drive the running server)."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return


def _load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The signing key stored at ``path``; a new one is written there if the file is absent."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from newsletter.sendgrid_testserver.events import generate_signing_key

    if not path.exists():
        key = generate_signing_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Created private from the start: a private key must never be readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return key
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise InvalidInputError(f"{path}: not an elliptic-curve private key")
    return loaded
