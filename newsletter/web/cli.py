"""``newsletter web``: serve the public web app with uvicorn."""

from __future__ import annotations

import click

from newsletter.cli import runtime
from newsletter.console import err


@click.command("web")
@click.option("--host", default=None, help="Interface to listen on (default NEWSLETTER_WEB_HOST).")
@click.option("--port", type=int, default=None, help="Port (default NEWSLETTER_WEB_PORT).")
@click.pass_context
def web(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve subscribe, confirm, preferences and unsubscribe pages (127.0.0.1 by default)."""
    import uvicorn

    from newsletter.web.app import create_app

    settings = runtime(ctx).settings
    app = create_app(settings)
    host = host or settings.web_host
    port = port if port is not None else settings.web_port
    err.print(f"Serving {settings.base_url} on http://{host}:{port} (Ctrl+C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="info")
