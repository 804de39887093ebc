"""``newsletter publishing status|flush``: public changes still on their way, and retrying them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table

from newsletter.clicontext import runtime
from newsletter.console import out, print_json

if TYPE_CHECKING:
    from newsletter.publishing.models import PublicChange

# Start-up stays cheap (``newsletter publishing --help``): what publishes is imported in
# the commands that use it.


@click.group("publishing")
def publishing_group() -> None:
    """Public changes: the static export and the WebSub hub, with their retries."""


def _row(slug: str, change: PublicChange) -> dict[str, Any]:
    """One change as ``status`` shows it (and as ``--json`` prints it)."""
    return {
        "id": change.id,
        "publication": slug,
        "state": change.state.value,
        "reason": change.reason,
        "feeds": len(change.feed_urls),
        "attempts": change.attempts,
        "created_at": change.created_at.isoformat(),
        "next_attempt_at": change.next_attempt_at.isoformat(),
        "exported": change.exported_at is not None,
        "announced": change.announced_at is not None,
        "last_error": change.last_error,
    }


@publishing_group.command("status")
@click.option("--all", "everything", is_flag=True, help="Also list changes already done.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, everything: bool, as_json: bool) -> None:
    """List public changes still pending, and those that failed or were given up."""
    from newsletter.publishing import changes

    with runtime(ctx).database.session() as session:
        rows = [_row(slug, c) for slug, c in changes.list_changes(session, finished=everything)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No public change is pending, failed or given up.")
        return
    table = Table("id", "publication", "state", "attempts", "next attempt", "reason", "last error")
    for row in rows:
        table.add_row(
            str(row["id"]),
            escape(row["publication"]),
            row["state"],
            str(row["attempts"]),
            row["next_attempt_at"][:19] if row["state"] == "pending" else "",
            escape(row["reason"]),
            escape(row["last_error"] or ""),
        )
    out.print(table)


@publishing_group.command("flush")
@click.option("--publication", "slug", default=None, help="Only this publication (slug).")
@click.option("--now", "force", is_flag=True, help="Also retry changes not due yet.")
@click.pass_context
def flush(ctx: click.Context, slug: str | None, force: bool) -> None:
    """Export and announce pending public changes now (the beat tick does this by itself)."""
    from newsletter.publications.services import get_publication
    from newsletter.publishing import changes

    rt = runtime(ctx)
    if slug is not None:
        with rt.database.session() as session:
            get_publication(session, slug)  # an unknown slug: one clear line, exit 2
    hub_url = rt.settings.websub_hub_url or None
    public_dir = changes.public_dir_of(rt.settings)
    outcomes = changes.flush(
        rt.database, public_dir, hub_url, publications=[slug] if slug else None, force=force
    )
    if not outcomes:
        out.print("Nothing to publish: no public change is due.")
    for outcome in outcomes:
        for line in outcome.lines(public_dir, hub_url):
            out.print(escape(line))


@publishing_group.command("rerender")
@click.option("--publication", "slug", default=None, help="Only this publication (slug).")
@click.pass_context
def rerender(ctx: click.Context, slug: str | None) -> None:
    """Render every published edition's web page again (after an upgrade changed templates).

    Pages show the public view (corrections, withdrawals, takedowns); emails already
    sent are not touched. The static export is refreshed afterwards.
    """
    from newsletter.digests.pages import rerender_edition_pages
    from newsletter.publications.services import list_publications
    from newsletter.publishing import changes

    rt = runtime(ctx)
    with rt.database.session() as session:
        slugs = [slug] if slug else [p.slug for p in list_publications(session)]
        counts = {}
        for each in slugs:
            counts[each] = rerender_edition_pages(session, each)
            changes.record(session, each, [], "edition pages re-rendered")
    for each, count in counts.items():
        out.print(f"{escape(each)}: re-rendered {count} edition pages.")
    hub_url = rt.settings.websub_hub_url or None
    public_dir = changes.public_dir_of(rt.settings)
    for outcome in changes.flush(rt.database, public_dir, hub_url, publications=slugs):
        for line in outcome.lines(public_dir, hub_url):
            out.print(escape(line))
