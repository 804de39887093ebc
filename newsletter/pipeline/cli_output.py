"""How the ``digest`` commands show editions on the terminal: summaries and delivery reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from newsletter.console import out
from newsletter.content.edition import Cadence
from newsletter.delivery.report import DeliveryReport
from newsletter.digests.models import Digest, DigestState
from newsletter.textrules import terminal


def summary(digest: Digest, count: int) -> dict[str, Any]:
    """One edition as ``digest list`` shows it (and as ``--json`` prints it)."""
    return {
        "id": digest.id,
        "edition_date": digest.edition_date.isoformat(),
        "cadence": digest.cadence.value,
        "slot": digest.slot,
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


def describe(digest: Digest, created: bool) -> str:
    """One line on an edition (or weekly roundup) just assembled (or found assembled)."""
    what = "Assembled" if created else "Already assembled"
    weekly = digest.cadence is Cadence.WEEKLY
    kind = " weekly roundup" if weekly else ""
    slot = f" ({digest.slot})" if digest.slot else ""
    head = f"{what} {digest.publication.slug}{kind} {digest.edition_date.isoformat()}{slot}"
    if digest.state is DigestState.SKIPPED:
        return f"{head}: skipped ({digest.skip_reason})."
    if weekly:  # a roundup rolls nothing over: what is beyond its limit is left out
        return (
            f"{head}: {digest.state.value}, {len(digest.items)} briefing(s) of the week, "
            f"{digest.rolled_over} more left out (over the roundup's limit)."
        )
    return (
        f"{head}: {digest.state.value}, {len(digest.items)} briefing(s), "
        f"{digest.rolled_over} rolled over to the next edition."
    )


def print_report(report: DeliveryReport) -> None:
    """The delivery report: the counts, the guarantee, a table per state and reason, and the
    breakdowns by variant and zone group when the edition had more than one of either."""
    kind = {"weekly": " weekly roundup", "alert": " alert"}.get(report.cadence, "")
    slot = f" ({escape(report.slot)})" if report.slot else ""
    out.print(
        f"{escape(report.publication)}{kind} {report.edition_date.isoformat()}{slot}: "
        f"[bold]{report.state}[/] "
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
    if report.late:
        table.add_row("late (confirmed after the send)", f"{report.late:,}")
        table.add_row("  of them sent", f"{report.late_sent:,}")
    if report.opened or report.clicked:
        table.add_row("opened", f"{report.opened:,}")
        table.add_row("clicked", f"{report.clicked:,}")
    out.print(table)
    if len(report.variants) > 1:
        out.print(variant_table(report))
    if report.zone_groups:
        out.print(zone_group_table(report))


def terminal_text(text: str) -> str:
    """Untrusted text (a briefing's topic, say) as terminal text: markup escaped, and control
    and format characters (escape sequences, bidi overrides) shown as ``\\xNN`` / ``\\uNNNN``."""
    return escape(terminal(text, one_line=True))


def variant_table(report: DeliveryReport) -> Table:
    """One row per version of the edition: the full edition and each topic variant."""
    table = Table(
        "variant",
        "key",
        "language",
        "briefings",
        "readers",
        "sent",
        "failed",
        "skipped",
        title="By variant",
    )
    for row in report.variants:
        table.add_row(
            terminal_text(row.label),
            row.key or "—",
            row.language,
            str(row.briefings),
            f"{row.readers:,}",
            f"{row.sent:,}",
            f"{row.failed:,}",
            f"{row.skipped:,}",
        )
    return table


def zone_group_table(report: DeliveryReport) -> Table:
    """One row per delivery instant: UTC, each zone's wall clock, readers and state."""
    table = Table(
        "delivery (UTC)",
        "zones (local time)",
        "readers",
        "sent",
        "failed",
        "state",
        title="By zone group",
    )
    for group in report.zone_groups:
        local = group.local_times()
        zones = ", ".join(f"{terminal_text(name)} {when:%H:%M}" for name, when in local)
        table.add_row(
            f"{group.deliver_at:%Y-%m-%d %H:%M}",
            zones,
            f"{group.readers:,}",
            f"{group.sent:,}",
            f"{group.failed:,}",
            group.state.replace("_", " "),
        )
    return table


def write_file(path: Path, text: str) -> None:
    """Write one preview file and say where, with its size."""
    path.write_text(text, encoding="utf-8")
    out.print(f"{escape(str(path))}  {path.stat().st_size:,} bytes")
