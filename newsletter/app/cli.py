"""``newsletter web``: serve the web app (public pages, feeds, webhook, editors) with uvicorn.

Every link the app builds (confirmation emails, preferences pages) starts with
``NEWSLETTER_BASE_URL``. When that variable is not set, the links must point where
this process listens, so the base URL is derived from ``--host`` and ``--port``;
when it is set (a proxy in front, a public name), it is shown as the public address.
"""

from __future__ import annotations

import socket

import click

from newsletter.clicontext import runtime
from newsletter.console import err
from newsletter.errors import InvalidInputError


def listen_url(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 literal in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def check_port_free(host: str, port: int) -> None:
    """Raise ``InvalidInputError`` naming ``--port`` if nothing could listen on host:port."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InvalidInputError(f"--host: cannot resolve {host!r} ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # The same option uvicorn sets, so a port in TIME_WAIT counts as free, as it is.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise InvalidInputError(
                f"--port: cannot listen on {listen_url(host, port)} ({exc.strerror}); "
                "is another server running there? Choose another --port"
            ) from None


@click.command("web")
@click.option("--host", default=None, help="Interface to listen on (default NEWSLETTER_WEB_HOST).")
@click.option("--port", type=int, default=None, help="Port (default NEWSLETTER_WEB_PORT).")
@click.pass_context
def web(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the web app: archive, feeds, sign-up pages, webhook, editors (127.0.0.1 default)."""
    import uvicorn

    from newsletter.app.factory import create_app

    settings = runtime(ctx).settings
    host = host or settings.web_host
    port = port if port is not None else settings.web_port
    check_port_free(host, port)
    local = listen_url(host, port)
    if "base_url" in settings.model_fields_set:
        err.print(f"Listening on {local}; public address {settings.base_url} (Ctrl+C to stop)")
    else:
        settings = settings.model_copy(update={"base_url": local})
        err.print(f"Serving {local} (Ctrl+C to stop)")
    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_level="info")
