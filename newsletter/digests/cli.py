"""``newsletter digest assemble|preview|list``."""

from __future__ import annotations

import re
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from newsletter import urls
from newsletter.clicontext import runtime
from newsletter.console import out, print_json
from newsletter.digests import services
from newsletter.digests.models import Digest, DigestState
from newsletter.errors import InvalidInputError
from newsletter.feeds.websub import announce, feed_urls
from newsletter.publications.services import get_publication

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date(value: str | None) -> date | None:
    """The ``--date`` option as a date, or one clear error naming the option."""
    if value is None:
        return None
    try:
        if not _ISO_DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"--date: {value!r} is not a date (expected YYYY-MM-DD)") from None


def _summary(digest: Digest, count: int) -> dict[str, Any]:
    return {
        "id": digest.id,
        "edition_date": digest.edition_date.isoformat(),
        "state": digest.state.value,
        "briefings": count,
        "rolled_over": digest.rolled_over,
        "skip_reason": digest.skip_reason,
        "subject": digest.subject,
        "cutoff_at": digest.cutoff_at.isoformat(),
        "assembled_at": digest.assembled_at.isoformat(),
        "rendered_at": digest.rendered_at.isoformat() if digest.rendered_at else None,
        "html_bytes": digest.html_bytes,
    }


def _describe(digest: Digest, created: bool) -> str:
    what = "Assembled" if created else "Already assembled"
    head = f"{what} {digest.publication.slug} {digest.edition_date.isoformat()}"
    if digest.state is DigestState.SKIPPED:
        return f"{head}: skipped ({digest.skip_reason})."
    return (
        f"{head}: {digest.state.value}, {len(digest.items)} briefing(s), "
        f"{digest.rolled_over} rolled over to the next edition."
    )


option_publication = click.option(
    "--publication", "slug", required=True, help="The publication's slug."
)
option_date = click.option(
    "--date", "date_text", help="Edition date, YYYY-MM-DD (default: today in its time zone)."
)
option_preview_date = click.option(
    "--date",
    "date_text",
    help="Edition date, YYYY-MM-DD (default: the next edition whose cut-off is still ahead).",
)


@click.group("digest")
def digest_group() -> None:
    """Editions: assemble, preview, publish, send and report."""


@digest_group.command("assemble")
@option_publication
@option_date
@click.pass_context
def assemble(ctx: click.Context, slug: str, date_text: str | None) -> None:
    """Assemble a publication's edition (again: returns the same edition)."""
    edition_date = parse_date(date_text)
    with runtime(ctx).database.session() as session:
        publication = get_publication(session, slug)
        result = services.assemble_digest(session, publication, edition_date)
        line = _describe(result.digest, result.created)
    out.print(escape(line))


@digest_group.command("publish")
@option_publication
@option_date
@click.pass_context
def publish(ctx: click.Context, slug: str, date_text: str | None) -> None:
    """Put an edition on the web archive and in the feeds, without sending email.

    The edition is assembled and rendered first if needed; the WebSub hub, if one is
    configured, is told which feeds changed.
    """
    edition_date = parse_date(date_text)
    rt = runtime(ctx)
    with rt.database.session() as session:
        publication = get_publication(session, slug)
        result = services.assemble_digest(session, publication, edition_date)
        if result.digest.state is DigestState.SKIPPED:
            raise InvalidInputError(
                f"{result.digest.label()} was skipped ({result.digest.skip_reason}): "
                "there is nothing to publish"
            )
        digest = services.publish_digest(session, result.digest.id)
        page = urls.edition_page(publication.base_url, slug, digest.edition_date)
        changed = feed_urls(services.build_edition(digest))
    out.print(f"Published {escape(page)} ({len(changed)} feeds updated).")
    hub = rt.settings.websub_hub_url
    if hub:
        problem = announce(hub, changed)
        out.print(f"WebSub hub not told: {escape(problem)}" if problem else f"Told {escape(hub)}.")


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    out.print(f"{escape(str(path))}  {path.stat().st_size:,} bytes")


@digest_group.command("preview")
@option_publication
@option_preview_date
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write email.html, email.txt, web.html and index.html into.",
)
@click.pass_context
def preview(ctx: click.Context, slug: str, date_text: str | None, out_dir: Path) -> None:
    """Assemble (if needed) and render an edition, and write its files for review.

    Without --date this is the next edition still to come, so briefings approved
    after today's send time show up in tomorrow's preview.
    """
    edition_date = parse_date(date_text)
    files: dict[str, str] = {}
    with runtime(ctx).database.session() as session:
        publication = get_publication(session, slug)
        edition_date = edition_date or services.next_edition(publication)
        frozen = services.find_digest(session, publication.id, edition_date) is not None
        with ExitStack() as scope:
            if not frozen:  # show what it would hold now, without freezing it
                scope.enter_context(services.tentatively(session))
            result = services.assemble_digest(session, publication, edition_date)
            if result.digest.state is not DigestState.SKIPPED:
                digest = services.render_digest(session, result.digest.id)
                files["email.html"] = digest.html or ""
                files["email.txt"] = digest.text or ""
                files["web.html"] = digest.web_html or ""
            line = _describe(result.digest, result.created)
            files["index.html"] = services.render_archive(session, publication)
    if not frozen:
        line = line.replace("Assembled", "Previewed", 1) + (
            " Nothing was stored: the edition is frozen only when it is assembled or sent."
        )
    out.print(escape(line))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        _write(out_dir / name, text)


@digest_group.command("list")
@option_publication
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, slug: str, as_json: bool) -> None:
    """List a publication's editions, newest first."""
    with runtime(ctx).database.session() as session:
        publication = get_publication(session, slug)
        digests = services.list_digests(session, publication)
        counts = services.item_counts(session, [d.id for d in digests])
        rows = [_summary(d, counts[d.id]) for d in digests]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f"No editions of {escape(slug)} yet (newsletter digest assemble).")
        return
    table = Table("date", "state", "briefings", "rolled over", "subject / reason")
    for row in rows:
        table.add_row(
            row["edition_date"],
            row["state"],
            str(row["briefings"]),
            str(row["rolled_over"]),
            escape(row["subject"] or row["skip_reason"] or ""),
        )
    out.print(table)
