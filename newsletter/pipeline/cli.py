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

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.table import Table

from newsletter.clicontext import ID, runtime
from newsletter.console import out, print_json
from newsletter.content.cadence import Cadence
from newsletter.pipeline.cli_options import (
    option_cadence,
    option_date,
    option_preview_date,
    option_publication,
    option_slot,
    parse_date,
    sending_options,
)

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

# Start-up stays cheap (``newsletter digest --help``): the pipeline, and with it
# SQLAlchemy and the renderers, is imported in the commands that use it
# (``cli_editions`` finds and makes editions, ``cli_output`` prints them).


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
    from newsletter.pipeline.cli_editions import assemble, edition_day
    from newsletter.pipeline.cli_output import describe
    from newsletter.publications.services import get_publication

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
    from newsletter.digests import services as digests
    from newsletter.digests.models import DigestState
    from newsletter.errors import InvalidInputError
    from newsletter.pipeline.cli_editions import assemble, edition_day, publish_changes
    from newsletter.pipeline.steps import record_public
    from newsletter.publications.services import get_publication

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
    from newsletter.digests import services as digests
    from newsletter.digests.models import DigestState
    from newsletter.pipeline.cli_editions import assemble, edition_day, next_day
    from newsletter.pipeline.cli_output import describe, write_file
    from newsletter.publications.services import get_publication

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
    from newsletter.digests import services as digests
    from newsletter.pipeline.cli_output import summary
    from newsletter.publications.services import get_publication

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


@digest_group.command("send")
@sending_options
def send(
    ctx: click.Context, slug: str, date_text: str | None, cadence: Cadence, slot: str, workers: int
) -> None:
    """Send an edition (or weekly roundup) to its readers, each once (safe to run again)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    from newsletter.pipeline.cli_editions import published_edition, send_args
    from newsletter.pipeline.cli_output import print_report
    from newsletter.pipeline.dispatch import Progress, dispatch

    rt = runtime(ctx)
    digest_id = published_edition(rt, slug, parse_date(date_text), cadence, slot)
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

        how = send_args(rt, workers, Progress(on_batch=show))
        report = dispatch(rt.database, digest_id, rt.sender, **how)
    print_report(report)


@digest_group.command("resend")
@sending_options
def resend(
    ctx: click.Context, slug: str, date_text: str | None, cadence: Cadence, slot: str, workers: int
) -> None:
    """Send once more to readers whose failure was transient, while the edition is fresh."""
    from newsletter.db import utcnow
    from newsletter.delivery.resend import requeue_transient
    from newsletter.pipeline.cli_editions import existing_digest, send_args
    from newsletter.pipeline.cli_output import print_report
    from newsletter.pipeline.dispatch import send_waiting

    rt = runtime(ctx)
    with rt.database.session() as session:
        digest_id = existing_digest(session, slug, parse_date(date_text), cadence, slot)
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
    report = send_waiting(rt.database, digest_id, rt.sender, **send_args(rt, workers))
    print_report(report)


def send_now_command(wake: Callable[[Runtime], None]) -> click.Command:
    """``digest send-now``; ``wake`` asks the scheduler for a tick now (it may raise)."""

    @click.command("send-now")
    @option_publication
    @option_slot
    @click.pass_context
    def send_now_(ctx: click.Context, slug: str, slot: str) -> None:
        """Start today's edition (or a slot's) now instead of at its scheduled time."""
        from newsletter.schedules.editions import send_now

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
    from newsletter import urls
    from newsletter.delivery.services import send_test
    from newsletter.pipeline.cli_editions import rendered_edition
    from subscribers.addresses import normalise_email
    from subscribers.tokens import tokens_for

    email = normalise_email(address, where="--to")
    rt = runtime(ctx)
    digest_id = rendered_edition(rt, slug, parse_date(date_text), cadence, slot)
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
    from newsletter.delivery.report import delivery_report
    from newsletter.pipeline.cli_editions import alert_digest, existing_digest
    from newsletter.pipeline.cli_output import print_report

    edition_date = parse_date(date_text)
    with runtime(ctx).database.session() as session:
        if alerted is not None:
            digest_id = alert_digest(session, slug, alerted)
        else:
            digest_id = existing_digest(session, slug, edition_date, cadence, slot)
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
    from newsletter.pipeline.cancel import cancel

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
