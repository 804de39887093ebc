"""``newsletter briefings alert``: send one approved briefing as an alert, now.

Lent to the ``briefings`` group by ``newsletter.cli``, which also hands it the function
asking a worker to plan the alert (``request_plan``: only the top layer reaches the
task queue). Without ``--yes`` it shows the readers the alert would reach and asks
first. Past the publication's ``alerts_per_day`` it needs ``--over-limit`` and an
``--editor`` who is an admin account; the audit log records every alert.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from newsletter.clicontext import runtime
from newsletter.console import out
from newsletter.editors.roles import Role
from newsletter.errors import TransitionError

if TYPE_CHECKING:
    from newsletter.pipeline.alerts import AlertCheck
    from newsletter.runtime import Runtime

# Start-up stays cheap (``newsletter briefings --help``): the pipeline is imported when
# the command runs.
RequestPlan = Callable[["Runtime", int], bool]


def describe(check: AlertCheck) -> str:
    """The confirmation line: what, to whom, and where the day's limit stands."""
    readers = f"{check.readers:,} reader{'s' if check.readers != 1 else ''}"
    limit = f"alert {check.sent_today + 1} of {check.limit} today"
    if check.over_limit:
        limit += " (over the limit)"
    return f"{check.title!r} ({check.slug}) goes to {readers} of {check.publication}, {limit}"


def alert_command(request_plan: RequestPlan) -> click.Command:
    """``briefings alert``; ``request_plan`` asks a worker to plan the started alert."""

    @click.command("alert")
    @click.argument("id_or_slug")
    @click.option("--publication", "slug", required=True, help="The publication's slug.")
    @click.option(
        "--editor",
        default=None,
        help="An editor account (name or email) for the audit trail; without it, the "
        "operating-system user, marked operator:.",
    )
    @click.option("--yes", is_flag=True, help="Send without asking to confirm.")
    @click.option(
        "--over-limit",
        is_flag=True,
        help="Go past the publication's alerts_per_day (needs an admin --editor; audited).",
    )
    @click.pass_context
    def alert(
        ctx: click.Context,
        id_or_slug: str,
        slug: str,
        editor: str | None,
        yes: bool,
        over_limit: bool,
    ) -> None:
        """Send an approved briefing at once to the readers who opted into alerts."""
        from newsletter.editors.actors import cli_actor
        from newsletter.editors.services import find_editor
        from newsletter.pipeline.alerts import check_alert, refuse_over_limit, start_alert
        from newsletter.publishing.after import flush_now
        from newsletter.publishing.corrections import PublicChanges

        rt = runtime(ctx)
        with rt.database.session() as session:
            actor = cli_actor(session, editor)
            account = find_editor(session, editor) if editor else None
            admin = account is not None and not account.disabled and account.role is Role.ADMIN
            check = check_alert(session, id_or_slug, slug)
            refuse_over_limit(check, override=over_limit, admin=admin)
        out.print(escape(describe(check)) + ".")
        if not yes and not click.confirm("Send it now?", default=False):
            raise TransitionError("not confirmed: nothing was sent")
        with rt.database.session() as session:
            started = start_alert(
                session, id_or_slug, slug, actor=actor, admin=admin, override=over_limit
            )
        asked = request_plan(rt, started.digest_id)
        flush_now(rt, PublicChanges(publications=(started.publication,)))
        how = "a worker sends it now" if asked else "no broker: the beat's tick sends it"
        out.print(
            f"Alert {started.digest_id} started for {started.readers:,} readers ({how}): "
            f"{escape(started.url)}"
        )

    return alert
