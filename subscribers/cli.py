"""``newsletter subscribers ...``: import, export, add, show, suppress, lists, personal data."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from newsletter.clicontext import runtime
from newsletter.console import err, out, print_json
from newsletter.content.cadence import Cadence
from newsletter.errors import NotFoundError
from subscribers.states import ConsentSource, SubscriptionState, SuppressionReason

if TYPE_CHECKING:
    from newsletter.runtime import Runtime
    from subscribers.confirmation import EmailConfirmer
    from subscribers.services import OptInPolicy
    from subscribers.welcome import EmailWelcomer

# Start-up stays cheap (``newsletter subscribers --help``): the services, and with them
# SQLAlchemy and the email renderers, are imported in the commands that use them.

MAX_PROBLEMS_SHOWN = 50


def _confirmer(rt: Runtime, source: ConsentSource) -> EmailConfirmer:
    from subscribers.confirmation import EmailConfirmer
    from subscribers.links import Links
    from subscribers.tokens import tokens_for

    settings = rt.settings
    links = Links(settings.base_url, tokens_for(settings))
    return EmailConfirmer(rt.sender, links, expires=settings.confirm_token_max_age, source=source)


def _welcomer(rt: Runtime) -> EmailWelcomer:
    from subscribers.links import Links
    from subscribers.tokens import tokens_for
    from subscribers.welcome import EmailWelcomer

    return EmailWelcomer(rt.sender, Links(rt.settings.base_url, tokens_for(rt.settings)))


def _policy(rt: Runtime) -> OptInPolicy:
    from subscribers.services import OptInPolicy

    settings = rt.settings
    return OptInPolicy(
        settings.confirm_resend_interval, settings.pending_expiry, settings.welcome_window
    )


@click.group("subscribers")
def subscribers() -> None:
    """Subscribers, lists, suppression and personal data."""


@subscribers.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--list", "list_slug", required=True, help="Slug of the list to import into.")
@click.option("--confirmed", is_flag=True, help="They already agreed: no confirmation email.")
@click.option("--consent", default="", help="How they agreed (required with --confirmed).")
@click.option("--dry-run", is_flag=True, help="Check every row; write nothing.")
@click.pass_context
def import_command(
    ctx: click.Context, file: Path, list_slug: str, confirmed: bool, consent: str, dry_run: bool
) -> None:
    """Import a CSV (email,name,topics,timezone,locale,cadence,weekly_day); bad rows are listed.

    A blank timezone is the publication's; cadence is daily (blank) or weekly, with a
    weekly_day the publication offers.

    Without --confirmed, imported addresses are pending and each gets a confirmation
    email. Exits 1 when some rows were refused, 2 when the file itself is unusable.
    """
    from subscribers import csvio

    rt = runtime(ctx)
    with (
        Progress(
            TextColumn("Importing"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar,
        rt.database.session() as session,
    ):
        task = bar.add_task("import", total=None)
        report = csvio.import_csv(
            session,
            file,
            list_slug=list_slug,
            confirmed=confirmed,
            consent=consent,
            confirmer=None if confirmed else _confirmer(rt, ConsentSource.IMPORT),
            dry_run=dry_run,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            limits=rt.settings.limits,
        )
    verb = "would import" if dry_run else "imported"
    pending = ""
    if report.confirmed_pending:
        done = "would be confirmed" if dry_run else "confirmed"
        pending = f", {report.confirmed_pending} pending sign-ups {done}"
    out.print(
        f"{report.rows} rows read, {report.imported} {verb} into {list_slug} "
        f"({report.new_subscribers} new subscribers){pending}, "
        f"{report.refused} refused."
    )
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        out.print(
            f"  row {problem.row}: {problem.email or '(no address)'}: {problem.reason}",
            markup=False,
        )
    if report.refused > MAX_PROBLEMS_SHOWN:
        out.print(f"  ... and {report.refused - MAX_PROBLEMS_SHOWN} more")
    if report.refused:
        ctx.exit(1)


@subscribers.command("export")
@click.option("--list", "list_slug", required=True, help="Slug of the list to export.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([state.value for state in SubscriptionState]),
    help="Subscription states to include (default: confirmed).",
)
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.pass_context
def export_command(
    ctx: click.Context, list_slug: str, states: tuple[str, ...], output: Path | None
) -> None:
    """Write a list's subscribers as CSV (to stdout, or --output)."""
    from subscribers import csvio

    rt = runtime(ctx)
    chosen = [SubscriptionState(state) for state in states] or [SubscriptionState.CONFIRMED]
    with rt.database.session() as session:
        if output is None:
            count = csvio.export_csv(session, list_slug, sys.stdout, states=chosen)
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                count = csvio.export_csv(session, list_slug, handle, states=chosen)
    err.print(f"{count} subscribers exported from {list_slug}.")


@subscribers.command("add")
@click.argument("email")
@click.option("--list", "list_slug", required=True)
@click.option("--name", default="")
@click.option("--topic", "topics", multiple=True, help="A topic (repeatable); none = all.")
@click.option("--timezone", default="", help="IANA zone (default: the publication's).")
@click.option("--locale", default="")
@click.option(
    "--cadence",
    type=click.Choice(["daily", "weekly"]),
    default="daily",
    show_default=True,
    help="Every edition, or a weekly roundup.",
)
@click.option("--weekly-day", default="", help="Day of a weekly roundup (mon ... sun).")
@click.option("--alerts", is_flag=True, help="Also send them alerts (the digest always).")
@click.option(
    "--alert-topic", "alert_topics", multiple=True, help="Alerts on this topic (repeatable)."
)
@click.option("--confirmed", is_flag=True, help="Skip the confirmation email.")
@click.option("--consent", default="", help="How they agreed (required with --confirmed).")
@click.pass_context
def add_command(
    ctx: click.Context,
    email: str,
    list_slug: str,
    name: str,
    topics: tuple[str, ...],
    timezone: str,
    locale: str,
    cadence: str,
    weekly_day: str,
    alerts: bool,
    alert_topics: tuple[str, ...],
    confirmed: bool,
    consent: str,
) -> None:
    """Subscribe one address (sends the confirmation email unless --confirmed)."""
    if confirmed and not consent.strip():
        raise click.UsageError("--consent is required with --confirmed")
    if alert_topics and not alerts:
        raise click.UsageError("--alert-topic is only for a reader who gets --alerts")
    from subscribers import services
    from subscribers.services import SignupRequest
    from subscribers.transitions import Evidence

    rt = runtime(ctx)
    request = SignupRequest(
        email=email,
        list_slug=list_slug,
        evidence=Evidence(ConsentSource.CLI, text=consent),
        name=name,
        locale=locale,
        timezone=timezone,
        topics=topics,
        cadence=cadence,
        weekly_day=weekly_day,
        skip_opt_in=confirmed,
        alerts=alerts,
        alert_topics=alert_topics,
    )
    with rt.database.session() as session:
        confirmer = _confirmer(rt, ConsentSource.CLI)
        result = services.sign_up(
            session, request, confirmer=confirmer, policy=_policy(rt), welcomer=_welcomer(rt)
        )
    out.print(f"{email}: {result.outcome.value.replace('_', ' ')}")


@subscribers.command("welcome")
@click.pass_context
def welcome_command(ctx: click.Context) -> None:
    """Send the welcome emails still owed (the tick does this every minute).

    A welcome is owed by a confirmation younger than NEWSLETTER_WELCOME_WINDOW whose
    welcome was never sent (not by an import); each is sent at most once.
    """
    from newsletter.db import utcnow
    from subscribers.welcome import send_welcomes, welcome_due

    rt = runtime(ctx)
    window = rt.settings.welcome_window
    with rt.database.session() as session:
        due = welcome_due(session, now=utcnow(), window=window, limit=100_000)
    sent = send_welcomes(rt.database.sessions, _welcomer(rt), due, window=window)
    out.print(f"{sent} welcome email(s) sent.")


@subscribers.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show_command(ctx: click.Context, email: str, as_json: bool) -> None:
    """Show a subscriber, their lists and their suppression status."""
    from subscribers import personal_data
    from subscribers.choices import reading_of

    rt = runtime(ctx)
    with rt.database.session() as session:
        data = personal_data.export_data(session, email)
    if as_json:
        print_json(data)
        return
    person = data["subscriber"] or {}
    out.print(f"{data['email']}  {person.get('name', '')}".rstrip(), markup=False)
    if person:
        zone = person["timezone"] or "the publication's"
        out.print(f"  locale {person['locale'] or 'not chosen'}, timezone {zone}", markup=False)
    for item in data["subscriptions"]:
        out.print(f"  {item['list']}: {item['state']}{_paused(item)}", markup=False)
        if item["digests"]:
            topics = ", ".join(item["topics"]) or "all topics"
            reading = reading_of(Cadence(item["cadence"]), item["weekly_day"])
            out.print(f"    digest: {reading}, {topics}", markup=False)
        else:
            out.print("    digest: off", markup=False)
        alert_topics = ", ".join(item["alert_topics"]) or "all topics"
        alerts = f"on, {alert_topics}" if item["alerts"] else "off"
        out.print(f"    alerts: {alerts}", markup=False)
    if data["suppression"]:
        out.print(f"  suppressed: {data['suppression']['reason']}")


def _paused(item: dict[str, Any]) -> str:
    return f" (paused until {item['paused_until']})" if item["paused_until"] else ""


@subscribers.command("unsubscribe")
@click.argument("email")
@click.option("--list", "list_slug", default=None, help="Only this list (default: every list).")
@click.pass_context
def unsubscribe_command(ctx: click.Context, email: str, list_slug: str | None) -> None:
    """Unsubscribe an address from one list or from all of them."""
    from subscribers import services
    from subscribers.tokens import TokenSubject
    from subscribers.transitions import Evidence

    rt = runtime(ctx)
    evidence = Evidence(ConsentSource.CLI, text="unsubscribed by an operator")
    with rt.database.session() as session:
        if list_slug is None:
            changed = services.unsubscribe_everywhere(session, email, evidence)
        else:
            subscriber = services.get_subscriber(session, email)
            mailing_list = services.get_list(session, list_slug)
            before = services.subscription_for(
                session, TokenSubject(subscriber.id, mailing_list.id)
            ).state
            services.unsubscribe(session, TokenSubject(subscriber.id, mailing_list.id), evidence)
            changed = int(before is not SubscriptionState.UNSUBSCRIBED)
    out.print(f"{email}: {changed} subscription(s) ended.")


@subscribers.command("suppress")
@click.argument("email")
@click.option(
    "--reason",
    type=click.Choice([reason.value for reason in SuppressionReason if reason.value != "erased"]),
    default=SuppressionReason.MANUAL.value,
    show_default=True,
)
@click.option("--note", default="")
@click.pass_context
def suppress_command(ctx: click.Context, email: str, reason: str, note: str) -> None:
    """Never send to this address again (every list)."""
    from subscribers import suppression

    rt = runtime(ctx)
    with rt.database.session() as session:
        entry = suppression.suppress(session, email, SuppressionReason(reason), note=note)
        shown = entry.reason.value
    out.print(f"{email}: suppressed ({shown}).")


@subscribers.command("export-data")
@click.argument("email")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.pass_context
def export_data_command(ctx: click.Context, email: str, output: Path | None) -> None:
    """Everything we hold about an address, as JSON."""
    from subscribers import personal_data

    rt = runtime(ctx)
    with rt.database.session() as session:
        data = personal_data.export_data(session, email)
    if output is None:
        print_json(data)
    else:
        output.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        err.print(f"Written to {output}.")


@subscribers.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def erase_command(ctx: click.Context, email: str, yes: bool) -> None:
    """Delete an address's personal data (outbox files too); only a hash stays."""
    from newsletter.providers.outbox import remove_messages_to
    from subscribers import personal_data
    from subscribers.addresses import normalise_email

    if not yes:
        click.confirm(f"Erase every personal datum about {email}?", abort=True)
    rt = runtime(ctx)
    normalised = normalise_email(email)
    missing: NotFoundError | None = None
    try:
        with rt.database.session() as session:
            personal_data.erase(session, normalised)
    except NotFoundError as exc:
        missing = exc  # outbox files left by an earlier erasure are still personal data
    # After the commit: a crash in between leaves files a rerun removes, never the person.
    removed = remove_messages_to(rt.settings.outbox_dir, normalised)
    if missing is not None and not removed:
        raise missing
    if missing is None:
        out.print(f"{email}: erased; only a hash remains on the suppression list.")
    out.print(f"{email}: {removed} outbox message(s) deleted.")


@subscribers.command("expire")
@click.pass_context
def expire_command(ctx: click.Context) -> None:
    """Expire sign-ups left unconfirmed past NEWSLETTER_PENDING_EXPIRY."""
    from subscribers import services

    rt = runtime(ctx)
    with rt.database.session() as session:
        count = services.expire_pending(session, policy=_policy(rt))
    out.print(f"{count} pending sign-up(s) expired.")


# -- lists --------------------------------------------------------------------------


@subscribers.group("lists")
def lists_group() -> None:
    """Mailing lists: add extra lists, show them, switch single/double opt-in."""


@lists_group.command("add")
@click.argument("slug")
@click.option("--publication", "publication_slug", required=True, help="Publication slug.")
@click.option("--name", required=True, help="Name shown on pages and in emails.")
@click.option("--single-opt-in", is_flag=True, help="Subscribe at once, no confirmation email.")
@click.pass_context
def lists_add(
    ctx: click.Context, slug: str, publication_slug: str, name: str, single_opt_in: bool
) -> None:
    """Add a list to a publication (double opt-in unless --single-opt-in)."""
    from subscribers import lists

    rt = runtime(ctx)
    with rt.database.session() as session:
        lists.add_list(session, publication_slug, slug, name, double_opt_in=not single_opt_in)
    mode = "single" if single_opt_in else "double"
    out.print(f"List {slug} added to {publication_slug} ({mode} opt-in).")


@lists_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def lists_list(ctx: click.Context, as_json: bool) -> None:
    """Show every list with its opt-in mode and subscriber counts."""
    from subscribers import lists

    rt = runtime(ctx)
    with rt.database.session() as session:
        found = lists.all_lists(session)
    if as_json:
        print_json([dataclasses.asdict(info) for info in found])
        return
    if not found:
        out.print("No lists yet: add a publication first.")
    for info in found:
        mode = "double" if info.double_opt_in else "single"
        out.print(
            f"{info.slug}  {info.name} (publication {info.publication}, {mode} opt-in): "
            f"{info.confirmed} confirmed, {info.pending} pending"
        )


@lists_group.command("set")
@click.argument("slug")
@click.option(
    "--single-opt-in/--double-opt-in",
    "single_opt_in",
    default=None,
    help="Whether sign-ups need the confirmation email.",
)
@click.pass_context
def lists_set(ctx: click.Context, slug: str, single_opt_in: bool | None) -> None:
    """Switch a list to single or double opt-in."""
    from subscribers import lists

    if single_opt_in is None:
        raise click.UsageError("say --single-opt-in or --double-opt-in")
    rt = runtime(ctx)
    with rt.database.session() as session:
        lists.set_double_opt_in(session, slug, not single_opt_in)
    mode = "single" if single_opt_in else "double"
    out.print(f"List {slug} is now {mode} opt-in.")
