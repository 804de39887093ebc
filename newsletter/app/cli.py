"""``newsletter web``: serve the web app (public pages, feeds, webhook, editors) with uvicorn.

The links to pages only this app serves (confirm, unsubscribe, preferences, sign-up,
the editors' app) start with ``NEWSLETTER_BASE_URL``. When that variable is not set,
they must point where this process listens, so the base URL is derived from
``--host`` and ``--port``; when it is set (a proxy in front, a public name), it is
shown as the public address. Links to a publication's archive and feeds start with
that publication's ``base_url``: each is checked at start (``check_publication_addresses``).
With ``--workers N`` uvicorn runs N processes, each building the app from the
environment (``newsletter.app.factory.serve``).
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any

import click

from newsletter.clicontext import runtime
from newsletter.console import err
from newsletter.errors import ConfigError, InvalidInputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from newsletter.settings import Settings


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


def check_publication_addresses(session: Session, settings: Settings) -> list[str]:
    """Check each publication's public address at start; the notices to print.

    A publication's ``base_url`` builds the links to its archive and feeds (in mail,
    feeds and pages); ``NEWSLETTER_BASE_URL`` the links to pages only this app serves.
    Production refuses a publication address that is not https or is loopback (one
    ``ConfigError`` line naming the publication); elsewhere a publication whose
    address is not this app's is shown, since its archive links lead there.
    """
    from sqlalchemy import select

    from newsletter.publications.models import Publication
    from newsletter.settings import public_address_problem

    notices = []
    rows = session.execute(
        select(Publication.slug, Publication.base_url).order_by(Publication.slug)
    )
    for slug, address in rows:
        problem = public_address_problem(address)
        if settings.production and problem:
            raise ConfigError(
                f"publication {slug!r} base_url: {problem} in production "
                f"(newsletter publications edit {slug} --base-url https://...)"
            )
        if address.rstrip("/") != settings.base_url:
            notices.append(
                f"Publication {slug!r}: archive and feed links use its base_url {address}; "
                f"confirm, unsubscribe and preferences links use {settings.base_url}"
            )
    return notices


@click.command("web")
@click.option("--host", default=None, help="Interface to listen on (default NEWSLETTER_WEB_HOST).")
@click.option("--port", type=int, default=None, help="Port (default NEWSLETTER_WEB_PORT).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes serving requests (default NEWSLETTER_WEB_WORKERS, 1).",
)
@click.pass_context
def web(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the web app: archive, feeds, sign-up pages, webhook, editors (127.0.0.1 default)."""
    import uvicorn

    from newsletter.settings import metrics_environment

    rt = runtime(ctx)
    settings = rt.settings
    host = host or settings.web_host
    port = port if port is not None else settings.web_port
    workers = workers or settings.web_workers
    check_port_free(host, port)
    local = listen_url(host, port)
    if "base_url" in settings.model_fields_set:
        err.print(f"Listening on {local}; public address {settings.base_url} (Ctrl+C to stop)")
    else:
        settings = settings.model_copy(update={"base_url": local})
        err.print(f"Serving {local} (Ctrl+C to stop)")
    with rt.database.session() as session:
        for line in check_publication_addresses(session, settings):
            err.print(line)
    # Before the app (and prometheus-client) is imported: every worker counts in one folder.
    os.environ.update(metrics_environment(settings))
    from newsletter.web.requests import configure

    log_config = configure(settings.log_format)
    # The app applies NEWSLETTER_TRUSTED_PROXIES itself (newsletter.app.factory), with
    # uvicorn's own middleware: uvicorn's copy stays off so it is applied once.
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "log_config": log_config,
        "proxy_headers": False,
        "forwarded_allow_ips": settings.proxy_addresses,
    }
    if workers == 1:
        from newsletter.app.factory import create_app

        uvicorn.run(create_app(settings), **options)
        return
    # Each worker process builds its own app from the environment: pass on what was derived.
    os.environ["NEWSLETTER_BASE_URL"] = settings.base_url
    uvicorn.run("newsletter.app.factory:serve", factory=True, workers=workers, **options)
