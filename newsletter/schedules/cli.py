"""``newsletter schedule set|once|list|slot``, ``publications pause|resume`` (cancel:
``pipeline.cli``).

``schedule slot add|list|remove`` manage a publication's named slots ("morning",
"evening"): each its own local time, weekdays and cut-off, each giving its own
edition of a date (``newsletter.content.slots`` for the rules).

Times an editor types are local to the publication's time zone; the list shows both
the local time and UTC, and says why an edition was missed or cancelled. Weekly
roundups are listed with their cadence; a publication delivering in each reader's
own zone shows its editions' cut-off (the earliest of its readers' zones) and how
many zones its readers are in.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table

from newsletter import parsing
from newsletter.clicontext import runtime
from newsletter.console import out, print_json
from newsletter.content.cadence import READER_CADENCES, Cadence

if TYPE_CHECKING:
    from newsletter.schedules import due
    from newsletter.schedules.models import ScheduledEdition, ScheduleSlot

# Start-up stays cheap (``newsletter schedule --help``): the services, and with them
# SQLAlchemy, are imported in the commands that use them.

UPCOMING = 3


def parse_time(value: str) -> time:
    """``--time`` as a time of day, or one clear error naming the option."""
    return parsing.parse_time(value, field="--time")


def parse_at(value: str) -> datetime:
    """``--at`` as a naive local date and time, or one clear error naming the option."""
    return parsing.parse_local(value, field="--at")


def _local(moment: datetime, timezone: str) -> str:
    return moment.astimezone(parsing.zone(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def edition_row(edition: ScheduledEdition, digest_state: str | None) -> dict[str, Any]:
    """One edition as the list shows it (and as ``--json`` prints it)."""
    return {
        "id": edition.id,
        "publication": edition.publication.slug,
        "edition_date": edition.edition_date.isoformat(),
        "cadence": edition.cadence.value,
        "due_local": _local(edition.due_at, edition.publication.timezone),
        "due_utc": edition.due_at.isoformat(),
        "kind": edition.kind.value,
        "state": edition.state.value,
        "slot": edition.slot,
        "digest_state": digest_state,
        "reason": edition.reason,
    }


def _next(edition: due.DueEdition, timezone: str) -> str:
    """An upcoming edition as listed: its local time, "weekly" for a roundup, its slot."""
    weekly = " (weekly)" if edition.cadence is Cadence.WEEKLY else ""
    slot = f" ({edition.slot})" if edition.slot else ""
    return f"{_local(edition.due_at, timezone)}{weekly}{slot}"


option_publication = click.option(
    "--publication", "slug", required=True, help="The publication's slug."
)


@click.group("schedule")
def schedule_group() -> None:
    """Schedules: recurring send times, one-off editions, cancellations."""


@schedule_group.command("set")
@option_publication
@click.option("--time", "time_text", required=True, help="Local send time, HH:MM.")
@click.option("--timezone", required=True, help="IANA time zone, e.g. Europe/London.")
@click.option("--days", required=True, help="Send days: mon-fri, mon,wed,fri or daily.")
@click.pass_context
def set_(ctx: click.Context, slug: str, time_text: str, timezone: str, days: str) -> None:
    """Set a publication's recurring schedule (from now on)."""
    from newsletter.db import utcnow
    from newsletter.schedules import due, services

    send_time = parse_time(time_text)
    weekdays = parsing.parse_weekdays(days, field="--days")
    now = utcnow()
    with runtime(ctx).database.session() as session:
        publication = services.set_schedule(
            session, slug, send_time=send_time, timezone=timezone, weekdays=weekdays, now=now
        )
        schedule = services.publication_schedule(session, publication)
        upcoming = due.next_occurrences(schedule, now, UPCOMING)
        paused = publication.paused
    out.print(
        f"{escape(slug)} sends at {send_time:%H:%M} {escape(timezone)} on "
        f"{','.join(d for d in parsing.WEEKDAYS if d in weekdays)}."
        + (" It is paused (newsletter publications resume)." if paused else "")
    )
    for edition in upcoming:
        out.print(f"  next: {edition.edition_date} at {_next(edition, timezone)}")


@schedule_group.command("once")
@option_publication
@click.option("--at", "at_text", required=True, help="Local date and time: 'YYYY-MM-DD HH:MM'.")
@click.option(
    "--cadence",
    type=click.Choice([c.value for c in READER_CADENCES]),
    default=Cadence.DAILY.value,
    show_default=True,
    help="The daily edition, or the weekly roundup (on a weekly day the publication offers).",
)
@click.option("--slot", default="", help="A named slot's edition of that date (schedule slot).")
@click.pass_context
def once(ctx: click.Context, slug: str, at_text: str, cadence: str, slot: str) -> None:
    """Schedule a one-off edition (it replaces the recurring one of that date, cadence and
    slot)."""
    from newsletter.schedules.editions import schedule_once

    local = parse_at(at_text)
    kind = Cadence(cadence)
    with runtime(ctx).database.session() as session:
        edition = schedule_once(session, slug, local, cadence=kind, slot=slot)
        what = "weekly roundup" if kind is Cadence.WEEKLY else "edition"
        of = f" ({slot})" if slot else ""
        line = (
            f"Scheduled {what} {edition.id}: {slug} {edition.edition_date}{of} at "
            f"{_local(edition.due_at, edition.publication.timezone)}."
        )
    out.print(escape(line))


@schedule_group.command("list")
@click.option("--publication", "slug", help="Only this publication.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, slug: str | None, as_json: bool) -> None:
    """List schedules, upcoming editions and every edition started, missed or cancelled."""
    from newsletter.db import utcnow
    from newsletter.publications.services import get_publication, list_publications
    from newsletter.schedules import due, services
    from newsletter.schedules.editions import editions_with_digest_state
    from newsletter.schedules.slots import slots_of

    now = utcnow()
    with runtime(ctx).database.session() as session:
        publications = [get_publication(session, slug)] if slug else list_publications(session)
        schedules = []
        for publication in publications:
            schedule = services.publication_schedule(session, publication)
            upcoming = due.next_occurrences(schedule, now, UPCOMING)
            schedules.append(
                {
                    "publication": publication.slug,
                    "send_time": publication.send_time.strftime("%H:%M"),
                    "timezone": publication.timezone,
                    "weekdays": list(publication.weekdays),
                    "weekly_days": list(publication.weekly_days),
                    "local_delivery": publication.local_delivery,
                    "reader_zones": sorted(schedule.zones | {publication.timezone})
                    if publication.local_delivery
                    else [publication.timezone],
                    "paused": publication.paused,
                    "next": [_next(e, publication.timezone) for e in upcoming],
                    "slots": [slot_row(row) for row in slots_of(session, publication)],
                    "upcoming": [
                        {
                            "edition_date": e.edition_date.isoformat(),
                            "cadence": e.cadence.value,
                            "slot": e.slot,
                            "due_utc": e.due_at.isoformat(),
                        }
                        for e in upcoming
                    ],
                }
            )
        editions = [
            edition_row(e, state) for e, state in editions_with_digest_state(session, slug=slug)
        ]
    if as_json:
        print_json({"schedules": schedules, "editions": editions})
        return
    _print_tables(schedules, editions)


def _print_tables(schedules: list[dict[str, Any]], editions: list[dict[str, Any]]) -> None:
    if not schedules:
        out.print("No publications yet (newsletter publications load FILE).")
        return
    table = Table("publication", "time", "zone", "days", "next")
    for row in schedules:
        days = ",".join(row["weekdays"]) or "(none)"
        if row["slots"]:  # the slots give the daily editions
            days = "; ".join(
                f"{slot['name']} {slot['time']} {','.join(slot['weekdays'])}"
                for slot in row["slots"]
            )
        if row["weekly_days"]:
            days += f"; weekly: {','.join(row['weekly_days'])}"
        zone = row["timezone"]
        if row["local_delivery"]:
            zone += f"; readers' own ({len(row['reader_zones'])} zones, due at the earliest)"
        upcoming = "paused" if row["paused"] else ("; ".join(row["next"]) or "-")
        table.add_row(escape(row["publication"]), row["send_time"], zone, days, upcoming)
    out.print(table)
    if not editions:
        out.print("No editions started, missed or scheduled yet.")
        return
    table = Table("id", "publication", "date", "due (local)", "kind", "state", "digest", "why")
    for row in editions:
        weekly = " weekly" if row["cadence"] == Cadence.WEEKLY.value else ""
        if row["cadence"] == Cadence.ALERT.value:
            weekly = " alert"
        slot = f" {row['slot']}" if row["slot"] else ""
        table.add_row(
            str(row["id"]),
            escape(row["publication"]),
            row["edition_date"] + weekly + slot,
            row["due_local"],
            row["kind"],
            row["state"],
            row["digest_state"] or "-",
            escape(row["reason"] or ""),
        )
    out.print(table)


def slot_row(slot: ScheduleSlot) -> dict[str, Any]:
    """One named slot as ``schedule slot list`` shows it (and ``--json`` prints it)."""
    return {
        "name": slot.name,
        "time": slot.send_time.strftime("%H:%M"),
        "weekdays": list(slot.weekdays),
        "cutoff_minutes": slot.cutoff_minutes,
    }


@schedule_group.group("slot")
def slot_group() -> None:
    """Named slots: several editions a day, each with its own time, days and cut-off."""


@slot_group.command("add")
@option_publication
@click.option("--name", required=True, help="The slot's name, e.g. morning (used in URLs).")
@click.option("--time", "time_text", required=True, help="Local send time, HH:MM.")
@click.option("--days", required=True, help="Send days: mon-fri, mon,wed,fri or daily.")
@click.option(
    "--cutoff",
    type=int,
    default=0,
    show_default=True,
    help="Minutes before the time: briefings approved later wait for the next slot.",
)
@click.pass_context
def slot_add(
    ctx: click.Context, slug: str, name: str, time_text: str, days: str, cutoff: int
) -> None:
    """Add a named slot; refused if its time or cut-off window overlaps another slot's."""
    from newsletter.content.slots import SlotSpec
    from newsletter.db import utcnow
    from newsletter.publications.services import get_publication
    from newsletter.schedules import due, services
    from newsletter.schedules.slots import add_slot

    spec = SlotSpec(
        name=name,
        send_time=parse_time(time_text),
        weekdays=parsing.parse_weekdays(days, field="--days"),
        cutoff_minutes=cutoff,
    )
    now = utcnow()
    with runtime(ctx).database.session() as session:
        add_slot(session, slug, spec, now=now)
        publication = get_publication(session, slug)
        upcoming = [
            e
            for e in due.next_occurrences(
                services.publication_schedule(session, publication), now, 8
            )
            if e.slot == name
        ][:UPCOMING]
        timezone = publication.timezone
    out.print(
        escape(
            f"{slug} has a slot {name!r}: {spec.send_time:%H:%M} {timezone} on "
            f"{','.join(d for d in parsing.WEEKDAYS if d in spec.weekdays)}, "
            f"cut-off {cutoff} min before."
        )
    )
    for edition in upcoming:
        out.print(f"  next: {edition.edition_date} at {_next(edition, timezone)}")


@slot_group.command("list")
@option_publication
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def slot_list(ctx: click.Context, slug: str, as_json: bool) -> None:
    """List a publication's named slots."""
    from newsletter.publications.services import get_publication
    from newsletter.schedules.slots import slots_of

    with runtime(ctx).database.session() as session:
        publication = get_publication(session, slug)
        rows = [slot_row(row) for row in slots_of(session, publication)]
        timezone = publication.timezone
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(
            f"{escape(slug)} has no named slots: one edition a day on its main schedule "
            "(newsletter schedule slot add)."
        )
        return
    table = Table("slot", f"time ({timezone})", "days", "cut-off")
    for row in rows:
        table.add_row(
            escape(row["name"]),
            row["time"],
            ",".join(row["weekdays"]),
            f"{row['cutoff_minutes']} min",
        )
    out.print(table)


@slot_group.command("remove")
@option_publication
@click.option("--name", required=True, help="The slot to remove.")
@click.pass_context
def slot_remove(ctx: click.Context, slug: str, name: str) -> None:
    """Remove a named slot (editions it already gave stay, under its name)."""
    from newsletter.publications.services import get_publication
    from newsletter.schedules.slots import remove_slot, slots_of

    with runtime(ctx).database.session() as session:
        remove_slot(session, slug, name)
        left = len(slots_of(session, get_publication(session, slug)))
    rest = f"{left} slot(s) left" if left else "back to its main schedule"
    out.print(escape(f"Removed slot {name!r} of {slug} ({rest})."))


def _pausing(name: str, paused: bool, help_text: str, done: str) -> click.Command:
    """``publications pause`` or ``resume``: set the publication's pause, then say ``done``."""

    @click.command(name, help=help_text)
    @click.argument("slug")
    @click.pass_context
    def command(ctx: click.Context, slug: str) -> None:
        from newsletter.schedules import services

        with runtime(ctx).database.session() as session:
            services.set_paused(session, slug, paused)
        out.print(done.format(slug=escape(slug)))

    return command


pause = _pausing(
    "pause",
    True,
    "Stop starting editions of a publication until it is resumed.",
    "Paused {slug}: no edition starts until it is resumed.",
)
resume = _pausing(
    "resume",
    False,
    "Start editions of a publication again (those due while paused are not sent).",
    "Resumed {slug}: its next scheduled edition will be sent.",
)
