"""``newsletter digest send | resend | test-send | report``: dispatch commands (``digest``)."""

from __future__ import annotations

from datetime import date

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from newsletter import urls
from newsletter.clicontext import runtime
from newsletter.console import out, print_json
from newsletter.db import utcnow
from newsletter.delivery import services
from newsletter.delivery.breaker import BreakerPolicy
from newsletter.delivery.report import DeliveryReport, delivery_report
from newsletter.delivery.resend import requeue_transient
from newsletter.digests.assembly import local_today
from newsletter.digests.cli import digest_group, option_date, option_publication, parse_date
from newsletter.digests.services import assemble_digest, find_digest, render_digest
from newsletter.errors import NotFoundError
from newsletter.publications.services import get_publication
from newsletter.runtime import Runtime
from subscribers.addresses import normalise_email


def _rendered_edition(rt: Runtime, slug: str, edition_date: date | None) -> int:
    """Assemble and render the edition if not done yet (both idempotent); returns its id."""
    with rt.database.session() as session:
        publication = get_publication(session, slug)
        digest = assemble_digest(session, publication, edition_date).digest
        return render_digest(session, digest.id).id


def dispatch_options(rt: Runtime, workers: int = 1) -> services.DispatchOptions:
    """Dispatch options from the settings: lease, batch size, deadline, circuit breaker."""
    settings = rt.settings
    return services.DispatchOptions(
        batch_size=settings.dispatch_batch_size,
        lease=settings.dispatch_lease,
        workers=workers,
        freshness_window=settings.freshness_window,
        breaker=BreakerPolicy(
            threshold=settings.breaker_threshold,
            probe_interval=settings.breaker_probe_interval,
            max_probe_interval=settings.breaker_max_probe_interval,
        ),
    )


def _existing_digest(session: Session, slug: str, edition_date: date | None) -> int:
    """The id of the publication's edition of that date (default: today there), or NotFound."""
    publication = get_publication(session, slug)
    when = edition_date or local_today(utcnow(), publication.timezone)
    digest = find_digest(session, publication.id, when)
    if digest is None:
        raise NotFoundError(f"--date: {slug} has no edition for {when.isoformat()}")
    return digest.id


def _print_report(report: DeliveryReport) -> None:
    out.print(
        f"{escape(report.publication)} {report.edition_date.isoformat()}: [bold]{report.state}[/] "
        f"— {report.sent:,} sent, {report.failed:,} failed, {report.skipped:,} skipped."
    )
    if report.deliver_at is not None:
        when = report.deliver_at.strftime("%Y-%m-%d %H:%M UTC")
        out.print(f"Delivery at {when} ({report.guarantee}).")
        if report.cancelled_ids:
            out.print(f"{report.cancelled_ids} provider batch id(s) cancelled and sent again.")
    else:
        out.print(f"Delivery: {report.guarantee}.")
    table = Table("recipients", "count")
    for state, count in report.by_state.items():
        table.add_row(state, f"{count:,}")
    for reason, count in report.by_reason.items():
        table.add_row(f"  skipped: {reason}", f"{count:,}")
    if report.opened or report.clicked:
        table.add_row("opened", f"{report.opened:,}")
        table.add_row("clicked", f"{report.clicked:,}")
    out.print(table)


@digest_group.command("send")
@option_publication
@option_date
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 32))
@click.pass_context
def send(ctx: click.Context, slug: str, date_text: str | None, workers: int) -> None:
    """Send an edition to its list, each subscriber once (safe to run again)."""
    rt = runtime(ctx)
    digest_id = _rendered_edition(rt, slug, parse_date(date_text))
    columns = (
        TextColumn("Sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out, transient=True) as bar:
        task = bar.add_task("send", total=None)

        def show(progress: services.Progress) -> None:
            bar.update(task, total=progress.total, completed=progress.done)

        report = services.dispatch(
            rt.database,
            digest_id,
            rt.sender,
            base_url=rt.settings.base_url,
            tokens=rt.tokens,
            options=dispatch_options(rt, workers),
            progress=services.Progress(on_batch=show),
        )
    _print_report(report)


@digest_group.command("resend")
@option_publication
@option_date
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 32))
@click.pass_context
def resend(ctx: click.Context, slug: str, date_text: str | None, workers: int) -> None:
    """Send once more to readers whose failure was transient, while the edition is fresh."""
    rt = runtime(ctx)
    with rt.database.session() as session:
        digest_id = _existing_digest(session, slug, parse_date(date_text))
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
    report = services.send_waiting(
        rt.database,
        digest_id,
        rt.sender,
        base_url=rt.settings.base_url,
        tokens=rt.tokens,
        options=dispatch_options(rt, workers),
    )
    _print_report(report)


@digest_group.command("test-send")
@option_publication
@option_date
@click.option("--to", "address", required=True, help="Where to send the test copy.")
@click.pass_context
def test_send(ctx: click.Context, slug: str, date_text: str | None, address: str) -> None:
    """Send one copy marked [TEST] to an address; not recorded in the ledger."""
    email = normalise_email(address, where="--to")
    rt = runtime(ctx)
    digest_id = _rendered_edition(rt, slug, parse_date(date_text))
    services.send_test(
        rt.database,
        digest_id,
        rt.sender,
        email,
        base_url=rt.settings.base_url,
        tokens=rt.tokens,
        signup_url=urls.subscribe_page(rt.settings.base_url, slug),
    )
    out.print(f"Sent a test copy of {escape(slug)} to {escape(email)}.")


@digest_group.command("report")
@option_publication
@option_date
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def report(ctx: click.Context, slug: str, date_text: str | None, as_json: bool) -> None:
    """What happened to every recipient of an edition: counts per state and skip reason."""
    edition_date = parse_date(date_text)
    with runtime(ctx).database.session() as session:
        result = delivery_report(session, _existing_digest(session, slug, edition_date))
    if as_json:
        print_json(result.as_dict())
    else:
        _print_report(result)
