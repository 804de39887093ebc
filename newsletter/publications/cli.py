"""``newsletter publications add|edit|list|show|load``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table

from newsletter.clicontext import runtime
from newsletter.console import out, print_json

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from newsletter.publications.models import Publication

# Start-up stays cheap (``newsletter publications --help``): the services, and with
# them SQLAlchemy and pydantic, are imported in the commands that use them.

_LIST_FIELDS = ("weekdays", "topics", "weekly_days", "languages")
_NONE = "none"  # --weekly-days none: no weekly roundup


def _option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def _edit_option_name(field: str) -> str:
    return "--new-slug" if field == "slug" else _option_name(field)


def _split(value: str) -> list[str]:
    """A comma-separated CLI value as a list ("" or "none" gives an empty list)."""
    if value.strip().lower() == _NONE:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def _spec_options(*, slug: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options shared by ``add`` and ``edit``: one per publication field."""
    options = [
        click.option("--name", help="Display name, e.g. 'The Morning Briefing'."),
        click.option("--tagline", help="One line under the name."),
        click.option("--from-name", help="Sender name (defaults to the name)."),
        click.option("--from-email", help="Sender address."),
        click.option("--reply-to", help="Reply-to address (empty for none)."),
        click.option("--base-url", help="Public base URL of the web archive."),
        click.option("--postal-address", help="Postal address shown in the footer."),
        click.option("--timezone", help="IANA time zone, e.g. Europe/London."),
        click.option("--language", help="Default language tag, e.g. en."),
        click.option(
            "--languages",
            help="Languages readers may choose, comma-separated, the default among them: en,de.",
        ),
        click.option("--send-time", help="Local send time, HH:MM."),
        click.option("--weekdays", help="Send days, comma-separated: mon,tue,..."),
        click.option("--max-briefings", type=int, help="At most this many briefings (1-100)."),
        click.option("--topics", help="Topics covered, comma-separated (empty: all)."),
        click.option("--accent-color", help="Accent colour, #rrggbb."),
        click.option("--logo-url", help="Logo image URL (empty for none)."),
        click.option("--track-opens/--no-track-opens", default=None, help="Open tracking."),
        click.option("--track-clicks/--no-track-clicks", default=None, help="Click tracking."),
        click.option(
            "--local-delivery/--no-local-delivery",
            default=None,
            help="Send at the send time in each reader's own time zone.",
        ),
        click.option(
            "--weekly-days",
            help="Days a weekly roundup is offered on, comma-separated (none: no roundup).",
        ),
        click.option("--weekly-max", type=int, help="At most this many briefings per roundup."),
        click.option(
            "--alerts-per-day",
            type=int,
            help="Alerts a day before only an admin may send another (0-100).",
        ),
        click.option(
            "--topic-mode",
            help="Readers with topics get only those briefings (only) or those first (first).",
        ),
        click.option(
            "--digest-group-id",
            help="SendGrid unsubscribe group (asm) of the digest; 'none' for no group.",
        ),
        click.option(
            "--alert-group-id",
            help="SendGrid unsubscribe group (asm) of alerts; 'none' for no group.",
        ),
    ]
    if slug:
        options.insert(0, click.option("--new-slug", help="Rename: the new URL-safe identifier."))

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The options the user gave, with list fields split."""
    data = {name: value for name, value in values.items() if value is not None}
    for name in _LIST_FIELDS:
        if name in data:
            data[name] = _split(data[name])
    for name in _GROUP_FIELDS:
        if name in data:
            data[name] = _group(data[name])
    return data


_GROUP_FIELDS = ("digest_group_id", "alert_group_id")


def _group(typed: str) -> int | str | None:
    """A typed group id: a number, None for 'none' or blank; anything else is left for the
    spec to refuse, naming the option."""
    text = typed.strip()
    if text.lower() in ("", "none"):
        return None
    return int(text) if text.isdigit() and len(text) < 12 else text


@click.group("publications")
def publications_group() -> None:
    """Publications: identity, sender, schedule, scope and look."""


@publications_group.command("add")
@_spec_options(slug=False)
@click.option("--slug", required=True, help="URL-safe identifier, e.g. morning.")
@click.pass_context
def add(ctx: click.Context, /, **values: Any) -> None:
    """Create a publication."""
    from newsletter.publications import services
    from newsletter.publications.spec import validate_spec

    spec = validate_spec(_given(values), where="publications add", label=_option_name)
    with runtime(ctx).database.session() as session:
        services.create_publication(session, spec)
    out.print(f"Created publication {spec.slug}.")


# A check a higher layer adds to ``edit`` and ``load``, run after the change in its
# transaction (an error rolls it back): subscribers refuse dropping a roundup day that
# weekly readers chose. ``label`` names a field as this command's user knows it.
PublicationGuard = Callable[["Session", "Publication", Callable[[str], str]], None]


def edit_command(guard: PublicationGuard | None = None) -> click.Command:
    """``publications edit``, with ``guard`` checking each edited publication."""

    @click.command("edit")
    @click.argument("slug")
    @_spec_options(slug=True)
    @click.pass_context
    def edit(ctx: click.Context, /, slug: str, **values: Any) -> None:
        """Change some fields of a publication."""
        from newsletter.publications import services

        changes = _given(values)
        if "new_slug" in changes:
            changes["slug"] = changes.pop("new_slug")
        if not changes:
            raise click.UsageError("nothing to change: give at least one option")
        with runtime(ctx).database.session() as session:
            publication = services.edit_publication(session, slug, changes, label=_edit_option_name)
            if guard is not None:
                guard(session, publication, _edit_option_name)
            new_slug = publication.slug
        out.print(f"Updated publication {new_slug}.")

    return edit


publications_group.add_command(edit_command())


@publications_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the publications."""
    from newsletter.publications import services

    with runtime(ctx).database.session() as session:
        rows = [services.publication_summary(p) for p in services.list_publications(session)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No publications yet (newsletter publications load FILE).")
        return
    table = Table("slug", "name", "timezone", "send", "days", "max", "topics", "weekly")
    for row in rows:
        send = row["send_time"] + (" local" if row["local_delivery"] else "")
        weekly = ",".join(row["weekly_days"])
        table.add_row(
            row["slug"],
            escape(row["name"]),
            row["timezone"],
            send,
            ",".join(row["weekdays"]),
            str(row["max_briefings"]),
            escape(", ".join(row["topics"])) or "(all)",
            f"{weekly} (max {row['weekly_max']})" if weekly else "-",
        )
    out.print(table)


@publications_group.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, slug: str, as_json: bool) -> None:
    """Show every field of one publication."""
    from newsletter.publications import services

    with runtime(ctx).database.session() as session:
        data = services.publication_summary(services.get_publication(session, slug))
    if as_json:
        print_json(data)
        return
    table = Table("field", "value", show_header=False)
    for name, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        table.add_row(name, escape(shown))
    out.print(table)


# What a higher layer does with the file after the publications are stored, in the
# same transaction: the schedules package stores each publication's named slots.
LoadHook = Callable[["Session", Path], list[str]]


def load_command(
    guard: PublicationGuard | None = None, after: LoadHook | None = None
) -> click.Command:
    """``publications load``, with ``guard`` checking each publication the file changes and
    ``after`` storing what a higher layer reads from the file (lines to print)."""

    @click.command("load")
    @click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
    @click.pass_context
    def load(ctx: click.Context, file: Path) -> None:
        """Create or update publications from a TOML file of [[publication]] tables."""
        from newsletter.publications import services

        with runtime(ctx).database.session() as session:
            outcomes = services.load_publications(session, file)
            if guard is not None:
                for outcome in outcomes:
                    publication = services.get_publication(session, outcome.slug)
                    guard(session, publication, lambda name: f"{file}: key {name!r}")
            notes = after(session, file) if after is not None else []
        for outcome in outcomes:
            out.print(f"{outcome.action:<9} {outcome.slug}", markup=False)
        for note in notes:
            out.print(note, markup=False)

    return load


publications_group.add_command(load_command())
