"""``newsletter feeds export DIR``: every feed and archive page as static files."""

from __future__ import annotations

import click
from rich.markup import escape

from newsletter.clicontext import runtime
from newsletter.console import out
from newsletter.files import output_folder

# Start-up stays cheap (``newsletter feeds --help``): the exporter is imported when the
# command runs.


@click.group("feeds")
def feeds() -> None:
    """RSS, Atom and JSON feeds of the published editions."""


@feeds.command("export")
@click.argument("target", metavar="DIRECTORY")
@click.option("--publication", "-p", default=None, help="Only this publication (slug).")
@click.pass_context
def export(ctx: click.Context, target: str, publication: str | None) -> None:
    """Write every feed (plus the archive pages) under DIRECTORY, at the URL paths."""
    from newsletter.feeds.export import export_feeds

    directory = output_folder(target)
    rt = runtime(ctx)
    with rt.database.session() as session:
        result = export_feeds(
            session,
            directory,
            publication=publication,
            hub_url=rt.settings.websub_hub_url or None,
        )
    for path in result.files:
        out.print(escape(str(path)))
    out.print(f"Wrote {len(result.files)} files to {escape(str(directory))}.")
