"""``newsletter digest``: every command on editions, from assembly to the delivery report.

assemble, preview, publish, list; send, resend, send-now, test-send, report; and
``cancel_edition`` (``schedule cancel``). Sending goes through the pipeline
(``dispatch``, the same steps and batch rules the Celery tasks use); ``send-now``
makes today's edition due and asks the scheduler (``wake``) to start it at once.

A date has up to two editions: the daily one and, on a weekday the publication
offers roundups, the weekly roundup. ``--cadence weekly`` picks the roundup in every
command that names an edition by its date (assemble, preview, publish, send, resend,
test-send, report); the default is the daily edition, as before roundups existed.
A publication with named slots has one daily edition per slot: ``--slot evening``
picks that slot's edition in the same commands (and in ``send-now``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar
from rich.table import Table
from sqlalchemy.orm import Session

from newsletter import urls
from newsletter.briefings.services import get_briefing
from newsletter.clicontext import ID, runtime
from newsletter.console import out, print_json
from newsletter.content.edition import READER_CADENCES, Cadence
from newsletter.db import utcnow
from newsletter.delivery.report import delivery_report
from newsletter.delivery.resend import requeue_transient
from newsletter.delivery.services import send_test
from newsletter.digests import services as digests
from newsletter.digests.alerts import find_alert
from newsletter.digests.assembly import local_today, next_edition_date
from newsletter.digests.models import DigestState
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.parsing import WEEKDAYS
from newsletter.pipeline.cancel import cancel
from newsletter.pipeline.cli_output import describe, print_report, summary, write_file
from newsletter.pipeline.dispatch import (
    Progress,
    SendArgs,
    dispatch,
    dispatch_options,
    send_waiting,
)
from newsletter.pipeline.steps import record_public
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.publishing import changes
from newsletter.runtime import Runtime
from newsletter.schedules.editions import refuse_weekly_day, send_now
from newsletter.schedules.slots import get_slot, slot_cutoff
from subscribers.addresses import normalise_email
from subscribers.tokens import tokens_for

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


def _to_cadence(ctx: click.Context, param: click.Parameter, value: str) -> Cadence:
    return Cadence(value)


option_cadence = click.option(
    "--cadence",
    type=click.Choice([c.value for c in READER_CADENCES]),
    default=Cadence.DAILY.value,
    show_default=True,
    callback=_to_cadence,
    help="The date's daily edition, or its weekly roundup (on a weekday the publication offers).",
)


option_slot = click.option(
    "--slot",
    default="",
    help="A named slot's edition of the date, e.g. evening (newsletter schedule slot list).",
)


def kind_of(cadence: Cadence) -> str:
    """How the commands name an edition of a cadence: "edition" or "weekly roundup"."""
    return "weekly roundup" if cadence is Cadence.WEEKLY else "edition"


def edition_day(
    session: Session,
    publication: Publication,
    edition_date: date | None,
    cadence: Cadence,
    slot: str = "",
) -> date:
    """The date of the edition to make (default: today in the publication's zone).

    A new weekly roundup is made only on a weekday the publication offers (only
    readers of that weekday get it): any other date is refused, naming ``--cadence``,
    before anything is assembled. A roundup already made stays reachable even if the
    publication has since stopped offering its weekday. A slot's new edition needs the
    slot to exist (``--slot`` names the field); roundups have no slot.
    """
    day = edition_date or local_today(utcnow(), publication.timezone)
    if slot and cadence is Cadence.WEEKLY:
        raise InvalidInputError("--slot: a weekly roundup belongs to the main schedule")
    if digests.find_digest(session, publication.id, day, cadence, slot) is None:
        if cadence is Cadence.WEEKLY:
            refuse_weekly_day(publication, day)
        if slot:
            get_slot(session, publication, slot)
    return day


def assemble(
    session: Session, publication: Publication, day: date, cadence: Cadence, slot: str
) -> digests.AssemblyResult:
    """Assemble (or find) the edition; a slot's takes what was approved before its cut-off."""
    cutoff = None
    if slot and digests.find_digest(session, publication.id, day, cadence, slot) is None:
        cutoff = slot_cutoff(session, publication, day, slot)
    return digests.assemble_digest(
        session, publication, day, cadence=cadence, slot=slot, cutoff=cutoff
    )


def next_day(publication: Publication, cadence: Cadence) -> date:
    """The next edition of a cadence whose cut-off is still ahead (``preview``'s default)."""
    if cadence is Cadence.DAILY:
        return digests.next_edition(publication)
    if not publication.weekly_days:
        raise InvalidInputError(
            f"--cadence weekly: {publication.slug} offers no weekly roundup (weekly days: none)"
        )
    days = {WEEKDAYS.index(day) for day in publication.weekly_days}
    return next_edition_date(utcnow(), publication.send_time, publication.timezone, days)


@click.group("digest")
def digest_group() -> None:
    """Editions: assemble, preview, publish, send and report."""


@digest_group.command("assemble")
@option_publication
@option_date
@option_cadence
@option_slot
@click.pass_context
def assemble_command(
    ctx: click.Context, slug: str, date_text: str | None, cadence: Cadence, slot: str
) -> None:
    """Assemble a publication's edition or weekly roundup (again: returns the same one)."""
    edition_date = parse_date(date_text)
    with runtime(ctx).database.session() as session:
        publication = get_publication(session, slug)
        day = edition_day(session, publication, edition_date, cadence, slot)
        result = assemble(session, publication, day, cadence, slot)
        line = describe(result.digest, result.created)
    out.print(escape(line))


@digest_group.command("publish")
@option_publication
@option_date
@option_cadence
@option_slot
@click.pass_context
def publish(
    ctx: click.Context, slug: str, date_text: str | None, cadence: Cadence, slot: str
) -> None:
    """Put an edition on the web archive and in the feeds, without sending email.

    The edition is assembled and rendered first if needed. Then, as for every way an
    edition becomes public, the static export is refreshed and the WebSub hub (if one
    is configured) is told which feeds changed; what fails is retried by the tick.
    Running it again refreshes the export and tells the hub again.
    """
    edition_date = parse_date(date_text)
    rt = runtime(ctx)
    with rt.database.session() as session:
        publication = get_publication(session, slug)
        day = edition_day(session, publication, edition_date, cadence, slot)
        result = assemble(session, publication, day, cadence, slot)
        if result.digest.state is DigestState.SKIPPED:
            raise InvalidInputError(
                f"{result.digest.label()} was skipped ({result.digest.skip_reason}): "
                "there is nothing to publish"
            )
        digest = digests.publish_digest(session, result.digest.id)
        page = digests.edition_url(digest)  # a roundup's own page, not its date's daily one
        changed = record_public(session, digest, "digest publish").feed_urls
    out.print(f"Published {escape(page)} ({len(changed)} feeds updated).")
    publish_changes(rt, slug)


def publish_changes(rt: Runtime, slug: str) -> None:
    """Flush the publication's pending public changes (just committed) and say what happened."""
    hub_url = rt.settings.websub_hub_url or None
    public_dir = changes.public_dir_of(rt.settings)
    outcomes = changes.flush(rt.database, public_dir, hub_url, publications=[slug])
    for outcome in outcomes:
        for line in outcome.lines(public_dir, hub_url):
            out.print(escape(line))


@digest_group.command("preview")
@option_publication
@option_preview_date
@option_cadence
@option_slot
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write email.html, email.txt, web.html and index.html into.",
)
@click.pass_context
def preview(
    ctx: click.Context,
    slug: str,
    date_text: str | None,
    cadence: Cadence,
    slot: str,
    out_dir: Path,
) -> None:
    """Assemble (if needed) and render an edition, and write its files for review.

    Without --date this is the next edition still to come (with --cadence weekly:
    the next weekly roundup), so briefings approved after today's send time show
    up in tomorrow's preview.
    """
    edition_date = parse_date(date_text)
    files: dict[str, str] = {}
    with runtime(ctx).database.session() as session:
        publication = get_publication(session, slug)
        day = edition_day(
            session, publication, edition_date or next_day(publication, cadence), cadence, slot
        )
        frozen = digests.find_digest(session, publication.id, day, cadence, slot) is not None
        with ExitStack() as scope:
            if not frozen:  # show what it would hold now, without freezing it
                scope.enter_context(digests.tentatively(session))
            result = assemble(session, publication, day, cadence, slot)
            if result.digest.state is not DigestState.SKIPPED:
                digest = digests.render_digest(session, result.digest.id)
                files["email.html"] = digest.html or ""
                files["email.txt"] = digest.text or ""
                files["web.html"] = digest.web_html or ""
            line = describe(result.digest, result.created)
            files["index.html"] = digests.render_archive(session, publication)
    if not frozen:
        line = line.replace("Assembled", "Previewed", 1) + (
            " Nothing was stored: the edition is frozen only when it is assembled or sent."
        )
    out.print(escape(line))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_file(out_dir / name, text)


@digest_group.command("list")
@option_publication
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, slug: str, as_json: bool) -> None:
    """List a publication's editions, newest first."""
    with runtime(ctx).database.session() as session:
        publication = get_publication(session, slug)
        editions = digests.list_digests(session, publication)
        counts = digests.item_counts(session, [d.id for d in editions])
        rows = [summary(d, counts[d.id]) for d in editions]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f"No editions of {escape(slug)} yet (newsletter digest assemble).")
        return
    table = Table("date", "state", "briefings", "rolled over", "subject / reason")
    for row in rows:
        kind = {Cadence.WEEKLY.value: " weekly", Cadence.ALERT.value: " alert"}
        slot = f" {row['slot']}" if row["slot"] else ""
        table.add_row(
            row["edition_date"] + kind.get(row["cadence"], "") + slot,  # beside its date's
            row["state"],
            str(row["briefings"]),
            str(row["rolled_over"]),
            escape(row["subject"] or row["skip_reason"] or ""),
        )
    out.print(table)


def _rendered_edition(
    rt: Runtime, slug: str, edition_date: date | None, cadence: Cadence, slot: str
) -> int:
    """Assemble and render the edition if not done yet (both idempotent); returns its id."""
    with rt.database.session() as session:
        publication = get_publication(session, slug)
        day = edition_day(session, publication, edition_date, cadence, slot)
        digest = assemble(session, publication, day, cadence, slot).digest
        return digests.render_digest(session, digest.id).id


def _published_edition(
    rt: Runtime, slug: str, edition_date: date | None, cadence: Cadence, slot: str
) -> int:
    """Render the edition if needed and, if it is not public yet, publish it; returns its id.

    Publishing before sending, as the pipeline does, puts the edition in the static
    export and tells the hub before the first email goes out.
    """
    with rt.database.session() as session:
        publication = get_publication(session, slug)
        day = edition_day(session, publication, edition_date, cadence, slot)
        digest = assemble(session, publication, day, cadence, slot).digest
        digest = digests.render_digest(session, digest.id)
        published = digest.state is DigestState.RENDERED
        if published:
            digests.publish_digest(session, digest.id)
            record_public(session, digest, "digest send")
    if published:
        publish_changes(rt, slug)
    return digest.id


def _existing_digest(
    session: Session,
    slug: str,
    edition_date: date | None,
    cadence: Cadence = Cadence.DAILY,
    slot: str = "",
) -> int:
    """The id of the publication's edition (weekly roundup, slot's edition) of that date
    (default: today there), or NotFound naming the options that chose it."""
    publication = get_publication(session, slug)
    when = edition_date or local_today(utcnow(), publication.timezone)
    digest = digests.find_digest(session, publication.id, when, cadence, slot)
    if digest is None:
        options = "--date, --cadence weekly" if cadence is Cadence.WEEKLY else "--date"
        if slot:
            options += ", --slot"
        of = f" ({slot})" if slot else ""
        raise NotFoundError(
            f"{options}: {slug} has no {kind_of(cadence)} for {when.isoformat()}{of}"
        )
    return digest.id


def _alert_digest(session: Session, slug: str, id_or_slug: str) -> int:
    """The id of the publication's alert of this briefing, or NotFound naming ``--alert``."""
    publication = get_publication(session, slug)
    briefing = get_briefing(session, id_or_slug)
    digest = find_alert(session, publication, briefing.id)
    if digest is None:
        raise NotFoundError(f"--alert: {slug} sent no alert of briefing {briefing.slug!r}")
    return digest.id


def _sending_command(command: Callable[..., None]) -> Callable[..., None]:
    """The options ``digest send`` and ``digest resend`` share: publication, date, cadence,
    slot, workers."""
    workers = click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 32))
    chosen = option_slot(workers(click.pass_context(command)))
    return option_publication(option_date(option_cadence(chosen)))


def _send_args(rt: Runtime, workers: int, progress: Progress | None = None) -> SendArgs:
    """How ``digest send`` and ``digest resend`` send: the settings' links, tokens and options."""
    return SendArgs(
        base_url=rt.settings.base_url,
        tokens=tokens_for(rt.settings),
        options=dispatch_options(rt.settings, workers=workers),
        progress=progress,
    )


@digest_group.command("send")
@_sending_command
def send(
    ctx: click.Context, slug: str, date_text: str | None, cadence: Cadence, slot: str, workers: int
) -> None:
    """Send an edition (or weekly roundup) to its readers, each once (safe to run again)."""
    rt = runtime(ctx)
    digest_id = _published_edition(rt, slug, parse_date(date_text), cadence, slot)
    columns = (
        TextColumn("Sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Bar(*columns, console=out, transient=True) as bar:
        task = bar.add_task("send", total=None)

        def show(progress: Progress) -> None:
            bar.update(task, total=progress.total, completed=progress.done)

        how = _send_args(rt, workers, Progress(on_batch=show))
        report = dispatch(rt.database, digest_id, rt.sender, **how)
    print_report(report)


@digest_group.command("resend")
@_sending_command
def resend(
    ctx: click.Context, slug: str, date_text: str | None, cadence: Cadence, slot: str, workers: int
) -> None:
    """Send once more to readers whose failure was transient, while the edition is fresh."""
    rt = runtime(ctx)
    with rt.database.session() as session:
        digest_id = _existing_digest(session, slug, parse_date(date_text), cadence, slot)
        requeued = requeue_transient(
            session, digest_id, now=utcnow(), batch_size=rt.settings.dispatch_batch_size
        )
    if requeued.readers:
        out.print(
            f"Sending again to {requeued.readers:,} reader(s) whose failure was transient "
            f"(the edition is fresh until {requeued.deliver_by:%Y-%m-%d %H:%M} UTC)."
        )
    else:
        out.print("Nothing to resend: no reader failed for a transient reason.")
    report = send_waiting(rt.database, digest_id, rt.sender, **_send_args(rt, workers))
    print_report(report)


def send_now_command(wake: Callable[[Runtime], None]) -> click.Command:
    """``digest send-now``; ``wake`` asks the scheduler for a tick now (it may raise)."""

    @click.command("send-now")
    @option_publication
    @option_slot
    @click.pass_context
    def send_now_(ctx: click.Context, slug: str, slot: str) -> None:
        """Start today's edition (or a slot's) now instead of at its scheduled time."""
        rt = runtime(ctx)
        with rt.database.session() as session:
            label = send_now(session, slug, slot=slot).label()
        try:
            wake(rt)
            woken = "(the scheduler was woken; a worker starts it within seconds)"
        except Exception as exc:  # the broker is down: the beat's next tick will start it
            woken = f"(could not reach the broker: {exc}; the next beat tick starts it)"
        out.print(f"{escape(label)} is due now {escape(woken)}.")

    return send_now_


@digest_group.command("test-send")
@option_publication
@option_date
@option_cadence
@option_slot
@click.option("--to", "address", required=True, help="Where to send the test copy.")
@click.pass_context
def test_send(
    ctx: click.Context, slug: str, date_text: str | None, cadence: Cadence, slot: str, address: str
) -> None:
    """Send one copy marked [TEST] to an address; not recorded in the ledger."""
    email = normalise_email(address, where="--to")
    rt = runtime(ctx)
    digest_id = _rendered_edition(rt, slug, parse_date(date_text), cadence, slot)
    send_test(
        rt.database,
        digest_id,
        rt.sender,
        email,
        base_url=rt.settings.base_url,
        tokens=tokens_for(rt.settings),
        signup_url=urls.subscribe_page(rt.settings.base_url, slug),
    )
    out.print(f"Sent a test copy of {escape(slug)} to {escape(email)}.")


@digest_group.command("report")
@option_publication
@option_date
@option_cadence
@option_slot
@click.option(
    "--alert",
    "alerted",
    metavar="BRIEFING",
    help="The alert of this briefing (id or slug) instead of an edition of a date.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def report(
    ctx: click.Context,
    slug: str,
    date_text: str | None,
    cadence: Cadence,
    slot: str,
    alerted: str | None,
    as_json: bool,
) -> None:
    """What happened to every recipient of an edition: counts per state and skip reason."""
    edition_date = parse_date(date_text)
    with runtime(ctx).database.session() as session:
        if alerted is not None:
            digest_id = _alert_digest(session, slug, alerted)
        else:
            digest_id = _existing_digest(session, slug, edition_date, cadence, slot)
        result = delivery_report(session, digest_id)
    if as_json:
        print_json(result.as_dict())
    else:
        print_report(result)


@click.command("cancel")
@click.argument("edition_id", metavar="EDITION", type=ID)
@click.pass_context
def cancel_edition(ctx: click.Context, edition_id: int) -> None:
    """Cancel an edition (before or while it is being sent)."""
    with runtime(ctx).database.session() as session:
        result = cancel(session, edition_id)
        label = result.edition.label()
    line = f"Cancelled {label}."
    if result.stopped_batches:
        line += f" Stopped {result.stopped_batches} unsent batch(es)."
    if result.withdrawing:
        line += (
            f" Asked the provider to cancel {result.withdrawing} request(s) sent ahead"
            " (confirmed within a minute)."
        )
    if result.unstoppable:
        line += (
            f" {result.unstoppable} request(s) are past the provider's cancel cutoff"
            " and will still be delivered."
        )
    out.print(escape(line))
