"""``newsletter briefings approve|withdraw|takedown``: decisions that may change what readers see.

Lent to the ``briefings`` group by ``newsletter.cli``. A decision on a briefing that
was published re-renders every edition's web copy that carried it, then (after the
commit) refreshes the static export and tells the WebSub hub; what could not be done
now is retried by the beat tick (``newsletter publishing status`` lists it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from newsletter.briefings.states import BriefingState
from newsletter.clicontext import runtime
from newsletter.console import out

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from newsletter.briefings.models import Briefing
    from newsletter.publishing.corrections import PublicChanges

# Start-up stays cheap (``newsletter briefings --help``): what decides is imported when
# a command runs.
Decide = Callable[["Session", "Briefing"], "PublicChanges"]

_ID = click.argument("id_or_slug")
_EDITOR = click.option(
    "--editor",
    default=None,
    help="An editor account (name or email) for the audit trail; without it, the "
    "operating-system user, marked operator:.",
)


def _decide(ctx: click.Context, id_or_slug: str, decide: Decide, done: str) -> None:
    from newsletter.briefings import services
    from newsletter.publishing import changes
    from newsletter.publishing.after import flush_now

    rt = runtime(ctx)
    with rt.database.session() as session:
        briefing = services.get_briefing(session, id_or_slug)
        public = decide(session, briefing)
        slug, state, rev = briefing.slug, briefing.state, briefing.latest_revision
    label = "approved" if state is BriefingState.APPROVED else state.value
    out.print(f"{escape(slug)} (rev {rev}) is now {label}{done}.")
    if not public:
        return
    hub_url = rt.settings.websub_hub_url or None
    public_dir = changes.public_dir_of(rt.settings)
    for outcome in flush_now(rt, public):
        for line in outcome.lines(public_dir, hub_url):
            out.print(escape(line))


@click.command("approve")
@_ID
@_EDITOR
@click.option("--comment", default="", help="Why (kept in the history).")
@click.option(
    "--note",
    default=None,
    help="The correction note readers see (required when the briefing was published).",
)
@click.option(
    "--confirm-title", is_flag=True, help="Confirm a title the importer derived from the text."
)
@click.pass_context
def approve(
    ctx: click.Context,
    id_or_slug: str,
    editor: str | None,
    comment: str,
    note: str | None,
    confirm_title: bool,
) -> None:
    """Approve a briefing; approving a published one again is a correction (needs --note)."""
    from newsletter.editors.actors import cli_actor
    from newsletter.publishing import corrections

    def decide(session: Session, briefing: Briefing) -> PublicChanges:
        return corrections.approve_briefing(
            session,
            briefing,
            cli_actor(session, editor),
            comment=comment,
            correction_note=note,
            confirm_title=confirm_title,
        )

    _decide(ctx, id_or_slug, decide, " (a correction, shown with its note)" if note else "")


@click.command("withdraw")
@_ID
@_EDITOR
@click.option("--comment", default="", help="Why (kept in the history; listed as the note).")
@click.pass_context
def withdraw(ctx: click.Context, id_or_slug: str, editor: str | None, comment: str) -> None:
    """Withdraw a briefing: out of later editions; if published, a notice replaces its text."""
    from newsletter.editors.actors import cli_actor
    from newsletter.publishing import corrections

    def decide(session: Session, briefing: Briefing) -> PublicChanges:
        actor = cli_actor(session, editor)
        return corrections.withdraw_briefing(session, briefing, actor, comment=comment)

    _decide(ctx, id_or_slug, decide, "")


@click.command("takedown")
@_ID
@_EDITOR
@click.option("--reason", required=True, help="Why (a legal request; audited, never shown).")
@click.pass_context
def takedown(ctx: click.Context, id_or_slug: str, editor: str | None, reason: str) -> None:
    """Remove a briefing's text from every page, feed and export, for good (legal requests)."""
    from newsletter.editors.actors import cli_actor
    from newsletter.publishing import corrections

    def decide(session: Session, briefing: Briefing) -> PublicChanges:
        actor = cli_actor(session, editor)
        return corrections.takedown_briefing(session, briefing, actor, reason=reason)

    _decide(ctx, id_or_slug, decide, " (taken down: its text is removed everywhere)")


DECISIONS = (approve, withdraw, takedown)
