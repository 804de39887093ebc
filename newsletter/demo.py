"""``newsletter demo``: the main job on the embedded default, start to finish.

It uses only what ships in the package (sample briefings, a demo publication) and
the configured data directory, and can run again: every step is idempotent.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from newsletter.briefings import services as briefing_services
from newsletter.briefings.cli import collect_files, parse_all
from newsletter.cli import runtime
from newsletter.console import out
from newsletter.digests.cli import preview
from newsletter.publications.services import load_publications

SAMPLES = Path(__file__).parent / "samples"
DEMO_EDITOR = "Demo Editor"
DEMO_PUBLICATION = "morning"


@click.command("demo")
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Run the whole job on the sample briefings and show where the results are."""
    rt = runtime(ctx)
    out.print(f"[bold]1.[/] Database ready: {escape(rt.database.engine.url.render_as_string())}")

    parsed, _ = parse_all(collect_files([SAMPLES / "briefings"]), keep_going=False)
    with rt.database.session() as session:
        outcomes = briefing_services.import_many(session, parsed, approve_as=DEMO_EDITOR)
    created = sum(o.action is briefing_services.ImportAction.CREATED for o in outcomes)
    warned = sum(bool(o.warnings) for o in outcomes)
    out.print(
        f"[bold]2.[/] Imported {len(outcomes)} sample briefings ({created} new), "
        f"approved by {DEMO_EDITOR}; {warned} carry warnings for the editor."
    )

    with rt.database.session() as session:
        loaded = load_publications(session, SAMPLES / "publications.toml")
    slugs = ", ".join(outcome.slug for outcome in loaded)
    out.print(f"[bold]3.[/] Demo publication ready: {escape(slugs)}.")

    preview_dir = rt.settings.data_dir / "preview"
    out.print(f"[bold]4.[/] The next edition of {DEMO_PUBLICATION}, assembled and rendered:")
    ctx.invoke(preview, slug=DEMO_PUBLICATION, date_text=None, out_dir=preview_dir)

    out.print(
        f"\nOpen [cyan]{escape(str((preview_dir / 'email.html').resolve()))}[/] in a browser.\n"
        "Next: [cyan]newsletter briefings list[/], [cyan]newsletter briefings show <slug>[/], "
        f"[cyan]newsletter digest list --publication {DEMO_PUBLICATION}[/]."
    )
