"""``newsletter db upgrade|current``: the database schema, through the shipped migrations."""

from __future__ import annotations

import click

from newsletter.clicontext import runtime
from newsletter.console import out


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every pending migration."""
    from newsletter import migrate

    rt = runtime(ctx, schema=False)
    migrate.upgrade(rt.database.engine)
    heads = ", ".join(sorted(migrate.current_heads(rt.database.engine)))
    out.print(f"Database {rt.database.engine.url.render_as_string()} is at {heads}.")


@db_group.command("current")
@click.pass_context
def db_current(ctx: click.Context) -> None:
    """Show the revisions the database is at, and whether any are pending."""
    rt = runtime(ctx, schema=False)
    with rt.database.engine.connect():  # unreachable: said before alembic is imported (~0.4 s)
        pass
    from newsletter import migrate

    heads = sorted(migrate.current_heads(rt.database.engine)) or ["(empty)"]
    state = "migrations pending" if migrate.pending(rt.database.engine) else "up to date"
    out.print(f"{', '.join(heads)} ({state})")
