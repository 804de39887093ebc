"""The ``newsletter`` command line: one root group, one sub-group per feature.

Errors the project raises on purpose become one line on stderr: exit code 2 for bad
input (``UserError``), 1 for everything else; never a traceback. Feature packages
define their own ``click.Group`` in ``<feature>/cli.py``; ``_register`` adds them.
"""

from __future__ import annotations

from typing import Any

import click

from newsletter import __version__, migrate
from newsletter.clicontext import runtime
from newsletter.console import out
from newsletter.errors import NewsletterError, UserError


class CommandFailed(click.ClickException, NewsletterError):
    """A NewsletterError shown as one line with the right exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            raise CommandFailed(str(exc), 2 if isinstance(exc, UserError) else 1) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
def app() -> None:
    """Publish approved newsroom briefings as email digests and feeds."""


@app.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every pending migration."""
    rt = runtime(ctx, schema=False)
    migrate.upgrade(rt.database.engine)
    heads = ", ".join(sorted(migrate.current_heads(rt.database.engine)))
    out.print(f"Database {rt.database.engine.url.render_as_string()} is at {heads}.")


@db_group.command("current")
@click.pass_context
def db_current(ctx: click.Context) -> None:
    """Show the revisions the database is at, and whether any are pending."""
    rt = runtime(ctx, schema=False)
    heads = sorted(migrate.current_heads(rt.database.engine)) or ["(empty)"]
    state = "migrations pending" if migrate.pending(rt.database.engine) else "up to date"
    out.print(f"{', '.join(heads)} ({state})")


def _register() -> None:
    """Attach each feature's command group (imported here to keep start-up cheap)."""
    import newsletter.delivery.commands  # noqa: F401  (adds digest send, test-send, report)
    from newsletter.app.cli import web
    from newsletter.briefings.cli import briefings
    from newsletter.delivery.testserver_cli import sendgrid_test_server
    from newsletter.demo import demo
    from newsletter.digests.cli import digest_group
    from newsletter.editors.cli import editors
    from newsletter.feeds.cli import feeds
    from newsletter.processes import beat, run, worker
    from newsletter.publications.cli import publications_group
    from newsletter.schedules.cli import schedule_group
    from subscribers.cli import subscribers

    app.add_command(briefings)
    app.add_command(demo)
    app.add_command(sendgrid_test_server)
    app.add_command(publications_group)
    app.add_command(digest_group)
    app.add_command(feeds)
    app.add_command(subscribers)
    app.add_command(web)
    app.add_command(schedule_group)  # also adds publications pause|resume, digest send-now
    app.add_command(worker)
    app.add_command(beat)
    app.add_command(run)
    app.add_command(editors)


_register()


def main() -> None:
    """Entry point of the ``newsletter`` console script."""
    app(prog_name="newsletter")
