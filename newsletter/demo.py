"""``newsletter demo``: the main job on the embedded default, start to finish.

It uses only what ships in the package (sample briefings, a demo publication, demo
subscribers) and the configured data directory, and runs the real pipeline: a
``celery -A tasks worker`` process assembles, renders, publishes and sends today's
edition through the configured email backend (the local outbox by default). It can
run again: every step is idempotent, and today's edition is sent only once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from newsletter.briefings.cli import collect_files, parse_all
from newsletter.clicontext import runtime
from newsletter.console import out
from newsletter.errors import InvalidInputError
from newsletter.pipeline.cli import preview
from newsletter.processes import send_through_worker

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

# Start-up stays cheap (``newsletter demo --help``): the services are imported when the
# demo runs.

SAMPLES = Path(__file__).parent / "samples"
DEMO_EDITOR = "Demo Editor"
DEMO_PUBLICATION = "morning"
DEMO_CONSENT = "demo data shipped with the project (fictional people)"


@click.command("demo")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for the worker.")
@click.pass_context
def demo(ctx: click.Context, timeout: float) -> None:
    """Run the whole job on sample data through a real worker, and show where the results are."""
    from newsletter.db import utcnow
    from newsletter.digests.assembly import local_today
    from newsletter.pipeline.cli_editions import publish_changes
    from newsletter.publications.services import get_publication, load_publications
    from newsletter.publishing import changes
    from subscribers.csvio import import_csv

    rt = runtime(ctx)
    out.print(f"[bold]1.[/] Database ready: {escape(rt.database.engine.url.render_as_string())}")
    _briefings(rt)
    with rt.database.session() as session:
        loaded = load_publications(session, SAMPLES / "publications.toml")
        report = import_csv(
            session,
            SAMPLES / "subscribers.csv",
            list_slug=DEMO_PUBLICATION,
            confirmed=True,
            consent=DEMO_CONSENT,
        )
    out.print(
        f"[bold]3.[/] Publication {escape(', '.join(o.slug for o in loaded))} with "
        f"{report.rows} demo subscribers ({report.imported} new)."
    )
    out.print("[bold]4.[/] Sending today's edition through a Celery worker (serverless broker):")
    log_path = rt.settings.data_dir / "demo-worker.log"
    try:
        with log_path.open("a", encoding="utf-8") as log:
            state = send_through_worker(
                rt.settings,
                DEMO_PUBLICATION,
                timeout=timeout,
                log=lambda line: print(line, file=log, flush=True),
                output=log,
            )
    except InvalidInputError as exc:  # today's edition exists already: a second run
        out.print(f"   Not sent again: {escape(str(exc))}.")
    else:
        final = state.value if state else "not started"
        out.print(f"   Today's edition finished as [bold]{final}[/] (worker log: {log_path}).")
    preview_dir = rt.settings.data_dir / "preview"
    with rt.database.session() as session:
        timezone = get_publication(session, DEMO_PUBLICATION).timezone
    today = local_today(utcnow(), timezone).isoformat()
    out.print("[bold]5.[/] Today's edition for editors to review (email, text, web page):")
    ctx.invoke(preview, slug=DEMO_PUBLICATION, date_text=today, out_dir=preview_dir)
    public = changes.public_dir_of(rt.settings)
    out.print("[bold]6.[/] The static export and the WebSub hub (the one publishing path):")
    # The worker exported and announced the edition it published; on a second run
    # this asks for a fresh export the same way a correction would.
    with rt.database.session() as session:
        changes.record(session, DEMO_PUBLICATION, [], "newsletter demo")
    publish_changes(rt, DEMO_PUBLICATION)
    _where(rt, public, preview_dir)


def _briefings(rt: Runtime) -> None:
    from newsletter.briefings import services as briefing_services

    parsed, _ = parse_all(collect_files([SAMPLES / "briefings"]), keep_going=False)
    with rt.database.session() as session:
        outcomes = briefing_services.import_many(session, parsed, approve_as=DEMO_EDITOR)
    created = sum(o.action is briefing_services.ImportAction.CREATED for o in outcomes)
    warned = sum(bool(o.warnings) for o in outcomes)
    out.print(
        f"[bold]2.[/] Imported {len(outcomes)} sample briefings ({created} new), "
        f"approved by {DEMO_EDITOR}; {warned} carry warnings for the editor."
    )


def _where(rt: Runtime, public: Path, preview_dir: Path) -> None:
    outbox = rt.settings.outbox_dir
    emails = sorted(outbox.glob("*.eml")) if outbox.is_dir() else []
    lines = [
        ("Emails (one .eml per recipient)", f"{outbox}  ({len(emails)} files)"),
        ("The email as rendered", str(preview_dir / "email.html")),
        ("Web archive", str(public / "index.html")),
        ("Feeds", str(public / "p" / DEMO_PUBLICATION / "feeds")),
    ]
    out.print("\n[bold]Where to look[/]")
    for label, path in lines:
        out.print(f"  {label:<34} [cyan]{escape(path)}[/]")
    out.print(
        "\nNext: [cyan]newsletter digest report --publication morning[/], "
        "[cyan]newsletter web[/] (then open http://127.0.0.1:8000/), "
        "[cyan]newsletter briefings list[/]."
    )
