"""``newsletter briefings ...``: import, review and approve briefings."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.progress import track
from rich.table import Table

from newsletter.briefings.states import BriefingState
from newsletter.clicontext import runtime
from newsletter.console import err, out, print_json
from newsletter.errors import InvalidInputError
from newsletter.files import files_in
from newsletter.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from newsletter.briefings import services
    from newsletter.briefings.models import Briefing, BriefingEvent
    from newsletter.content.briefing import BriefingContent

# Start-up stays cheap (``newsletter briefings --help``): the services, the parser and
# with them SQLAlchemy and pydantic are imported in the commands that use them.

BRIEFING_SUFFIXES = (".txt", ".json")
_STATE_STYLE = {
    BriefingState.DRAFT: "yellow",
    BriefingState.APPROVED: "green",
    BriefingState.REJECTED: "red",
    BriefingState.WITHDRAWN: "dim",
}


@click.group("briefings")
def briefings() -> None:
    """Import, review and approve briefings."""


def collect_files(
    paths: Iterable[Path], *, max_files: int = DEFAULT_LIMITS.folder_files
) -> list[Path]:
    """The briefing files named, with folders expanded to their .txt and .json files.

    More than ``max_files`` in all (``NEWSLETTER_MAX_FOLDER_FILES``) is refused before
    any is read.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found, unreadable = files_in(path, BRIEFING_SUFFIXES)
            if unreadable:  # a FIFO, a link loop ...: said, never skipped in silence
                listing = "".join(f"\n  {line}" for line in unreadable)
                raise InvalidInputError(
                    f"{path}: {len(unreadable)} entries are not readable files; "
                    f"nothing was imported:{listing}"
                )
            if not found:
                raise InvalidInputError(f"{path}: no .txt or .json briefing files in this folder")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise InvalidInputError(f"{path}: no such file or folder")
        if len(files) > max_files:
            raise InvalidInputError(
                f"{path}: more than {max_files:,} briefing files in one import "
                "(NEWSLETTER_MAX_FOLDER_FILES); import the folder in parts; nothing was imported"
            )
    return files


def parse_all(
    files: list[Path], *, keep_going: bool, limits: Limits = DEFAULT_LIMITS
) -> tuple[list[tuple[BriefingContent, str]], list[str]]:
    """Parse every file; without ``keep_going`` any failure stops the import before it writes."""
    from newsletter.briefings import parser

    parsed: list[tuple[BriefingContent, str]] = []
    failures: list[str] = []
    for path in track(files, description="Reading", console=err, disable=len(files) < 20):
        try:
            parsed.append((parser.parse_file(path, limits=limits), str(path)))
        except InvalidInputError as exc:
            failures.append(str(exc))
    if failures and not keep_going:
        if len(failures) == 1:
            raise InvalidInputError(f"{failures[0]}; nothing was imported")
        listing = "".join(f"\n  {failure}" for failure in failures)
        raise InvalidInputError(
            f"{len(failures)} of {len(files)} files failed; nothing was imported:{listing}"
        )
    return parsed, failures


def import_command(is_published: services.PublishedCheck | None = None) -> click.Command:
    """The ``import`` command; ``is_published`` tells which briefings readers have seen."""

    @click.command("import")
    @click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
    @click.option("--approve", is_flag=True, help="Approve what is imported (needs --editor).")
    @click.option(
        "--editor",
        help="With --approve: the editor account who approves (default: the "
        "operating-system user, marked operator:).",
    )
    @click.option(
        "--keep-going", is_flag=True, help="Import the good files and report the bad ones."
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
    @click.pass_context
    def import_(
        ctx: click.Context,
        paths: tuple[Path, ...],
        approve: bool,
        editor: str | None,
        keep_going: bool,
        as_json: bool,
    ) -> None:
        """Import briefing files (plain text or JSON) or folders of them.

        A folder is all-or-nothing unless --keep-going is given. With --approve, a
        changed briefing that was published stays a draft: approving it is a
        correction (``briefings approve --note``).
        """
        from newsletter.briefings import services
        from newsletter.editors.actors import cli_actor

        if editor and not approve:
            raise InvalidInputError("--editor: only meaningful with --approve")
        rt = runtime(ctx)
        with rt.database.session() as session:  # refused before any file is read
            approve_as = cli_actor(session, editor) if approve else None
        limits = rt.settings.limits
        files = collect_files(paths, max_files=limits.folder_files)
        parsed, failures = parse_all(files, keep_going=keep_going, limits=limits)
        with rt.database.session() as session:
            outcomes = services.import_many(
                session, parsed, approve_as=approve_as, is_published=is_published
            )
        if as_json:
            print_json(
                {
                    "imported": [_outcome_json(o) for o in outcomes],
                    "failed": failures,
                }
            )
        else:
            _print_outcomes(outcomes, failures)
        if failures:
            ctx.exit(1)

    return import_


def _outcome_json(outcome: services.ImportOutcome) -> dict[str, Any]:
    return {
        "slug": outcome.slug,
        "id": outcome.briefing_id,
        "action": outcome.action.value,
        "revision": outcome.revision,
        "state": outcome.state.value,
        "source": outcome.source,
        "warnings": [w.model_dump(mode="json") for w in outcome.warnings],
        "held": outcome.held,
    }


def _print_outcomes(outcomes: list[services.ImportOutcome], failures: list[str]) -> None:
    from newsletter.briefings.services import ImportAction

    table = Table("briefing", "result", "state", "warnings", title="Import")
    for o in outcomes:
        warnings = "\n".join(escape(w.message) for w in o.warnings) or "-"
        table.add_row(
            escape(o.slug),
            f"{o.action.value} (rev {o.revision})",
            _state(o.state),
            f"[yellow]{warnings}[/]" if o.warnings else warnings,
        )
    out.print(table)
    counts = {action: sum(o.action is action for o in outcomes) for action in ImportAction}
    summary = ", ".join(f"{n} {action.value}" for action, n in counts.items() if n)
    noun = "briefing" if len(outcomes) == 1 else "briefings"
    out.print(f"{len(outcomes)} {noun}: {summary or 'nothing to do'}.")
    for o in outcomes:
        if o.held:
            out.print(f"[yellow]{escape(o.slug)} not approved:[/] {escape(o.held)}.")
    for failure in failures:
        err.print(f"[red]failed:[/] {escape(failure)}")
    if failures:
        noun = "file was" if len(failures) == 1 else "files were"
        err.print(f"{len(failures)} {noun} not imported.")


def _state(state: BriefingState) -> str:
    return f"[{_STATE_STYLE[state]}]{state.value}[/]"


@briefings.command("list")
@click.option(
    "--state",
    type=click.Choice([s.value for s in BriefingState]),
    help="Only briefings in this state.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def list_(ctx: click.Context, state: str | None, as_json: bool) -> None:
    """List briefings, most recently changed first."""
    from newsletter.briefings import services

    with runtime(ctx).database.session() as session:
        rows = []
        for briefing in services.list_briefings(session, BriefingState(state) if state else None):
            content = services.revision(session, briefing).parsed()
            rows.append(_summary(briefing, content))
    if as_json:
        print_json(rows)
        return
    table = Table("id", "slug", "title", "state", "rev", "topics", "warnings")
    for row in rows:
        table.add_row(
            str(row["id"]),
            escape(row["slug"]),
            escape(row["title"]),
            _state(BriefingState(row["state"])),
            _revisions(row),
            escape(", ".join(row["topics"])),
            str(len(row["warnings"])) if row["warnings"] else "",
        )
    out.print(table if rows else "No briefings.")


def _summary(briefing: Briefing, content: BriefingContent) -> dict[str, Any]:
    return {
        "id": briefing.id,
        "slug": briefing.slug,
        "title": content.title,
        "state": briefing.state.value,
        "revision": briefing.latest_revision,
        "approved_revision": briefing.approved_revision,
        "approved_at": briefing.approved_at.isoformat() if briefing.approved_at else None,
        "approved_by": briefing.approved_by,
        "topics": list(content.topic_names),
        "warnings": [w.model_dump(mode="json") for w in content.warnings],
        "updated_at": briefing.updated_at.isoformat(),
    }


def _revisions(row: dict[str, Any]) -> str:
    approved = row["approved_revision"]
    if approved is not None and approved != row["revision"]:
        return f"{row['revision']} (live: {approved})"
    return str(row["revision"])


@briefings.command("show")
@click.argument("id_or_slug")
@click.option("--revision", "number", type=int, help="Show this revision (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def show(ctx: click.Context, id_or_slug: str, number: int | None, as_json: bool) -> None:
    """Show one briefing laid out for reading, with its warnings."""
    from newsletter.briefings import services
    from newsletter.briefings.display import render_briefing

    with runtime(ctx).database.session() as session:
        briefing = services.get_briefing(session, id_or_slug)
        content = services.revision(session, briefing, number).parsed()
        summary = _summary(briefing, content)
    if as_json:
        shown = number or summary["revision"]
        print_json({**summary, "shown_revision": shown, "content": content.model_dump(mode="json")})
        return
    out.print(render_briefing(summary, content), soft_wrap=False)


@briefings.command("history")
@click.argument("id_or_slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def history(ctx: click.Context, id_or_slug: str, as_json: bool) -> None:
    """Show who changed a briefing's state, when, and why."""
    from newsletter.briefings import services

    with runtime(ctx).database.session() as session:
        briefing = services.get_briefing(session, id_or_slug)
        events = [_event_json(e) for e in services.history(session, briefing)]
    if as_json:
        print_json(events)
        return
    table = Table("when (UTC)", "rev", "action", "state", "editor", "comment", title=briefing.slug)
    for e in events:
        change = f"{e['from_state']} → {e['to_state']}" if e["from_state"] else e["to_state"]
        table.add_row(
            e["at"][:19].replace("T", " "),
            str(e["revision"]),
            e["action"],
            change,
            escape(e["editor"]),
            escape(e["comment"]),
        )
    out.print(table)


def _event_json(event: BriefingEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "revision": event.revision,
        "action": event.action,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "editor": event.editor,
        "comment": event.comment,
    }


def _transition_command(name: str, verb: str) -> None:
    @briefings.command(
        name, help=f"{verb.capitalize()} a briefing (recorded with editor and time)."
    )
    @click.argument("id_or_slug")
    @click.option(
        "--editor",
        default=None,
        help="An editor account (name or email) for the audit trail; without it, the "
        "operating-system user, marked operator:.",
    )
    @click.option("--comment", default="", help="Why (kept in the history).")
    @click.pass_context
    def command(ctx: click.Context, id_or_slug: str, editor: str | None, comment: str) -> None:
        from newsletter.briefings import services
        from newsletter.editors.actors import cli_actor

        apply = getattr(services, name)
        with runtime(ctx).database.session() as session:
            actor = cli_actor(session, editor)
            briefing = apply(session, services.get_briefing(session, id_or_slug), actor, comment)
            slug, state, rev = briefing.slug, briefing.state, briefing.latest_revision
        out.print(f"{escape(slug)} (rev {rev}) is now {_state(state)}.")


# Approving and withdrawing may change what readers see: those commands live in
# newsletter.publishing.decisions_cli, lent to this group by newsletter.cli.
_transition_command("reject", "reject")


@briefings.command("schema")
def schema() -> None:
    """Print the JSON Schema of the JSON briefing format."""
    from newsletter.briefings import parser

    click.echo(json.dumps(parser.briefing_json_schema(), indent=2, ensure_ascii=False))
