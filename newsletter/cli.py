"""The ``newsletter`` command line: one root group, one sub-group per feature.

Errors the project raises on purpose become one line on stderr: exit code 2 for bad
input (``UserError``), 1 for everything else; never a traceback. Each package
defines its own ``click.Group`` in its ``cli.py``; ``_register`` adds them all, here
and nowhere else.
"""

from __future__ import annotations

from typing import Any

import click

from newsletter import __version__
from newsletter.errors import NewsletterError, UserError


class CommandFailed(click.ClickException, NewsletterError):
    """A NewsletterError shown as one line with the right exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            raise CommandFailed(str(exc), 2 if isinstance(exc, UserError) else 1) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
def app() -> None:
    """Publish approved newsroom briefings as email digests and feeds."""


def _register() -> None:
    """Attach every command, each group defined in its own package's ``cli.py``.

    This is the one place commands are registered: no module adds itself to a
    group when imported. Imported here, not at the top, to keep start-up cheap.
    """
    from newsletter.app.cli import web
    from newsletter.briefings.cli import briefings, import_command
    from newsletter.demo import demo
    from newsletter.editors.cli import editors
    from newsletter.feeds.cli import feeds
    from newsletter.migrations.cli import db_group
    from newsletter.pipeline.cli import cancel_edition, digest_group, send_now_command
    from newsletter.processes import beat, run, wake_scheduler, worker
    from newsletter.publications.cli import edit_command, load_command, publications_group
    from newsletter.publishing.corrections import is_published
    from newsletter.publishing.decisions_cli import DECISIONS
    from newsletter.publishing.status_cli import publishing_group
    from newsletter.schedules.cli import pause, resume, schedule_group
    from newsletter.sendgrid_testserver.cli import sendgrid_test_server
    from subscribers.choices import weekly_days_guard
    from subscribers.cli import subscribers

    # Pausing belongs to scheduling (a resume skips the editions due meanwhile), but
    # it is a verb on a publication: the schedules package lends it to that group.
    # Approving, withdrawing and taking down are verbs on a briefing, but they may
    # change what readers see: the publishing package lends them to that group.
    for decision in DECISIONS:
        briefings.add_command(decision)
    briefings.add_command(import_command(is_published))
    publications_group.add_command(pause)
    publications_group.add_command(resume)
    # Dropping a weekly day that readers chose would silently stop their mail: the
    # subscribers package, above publications, lends the check to edit and load.
    publications_group.add_command(edit_command(weekly_days_guard))
    publications_group.add_command(load_command(weekly_days_guard))
    # Cancelling is the pipeline's (it stops batches mid-send), a verb on a scheduled
    # edition; send-now wakes the scheduler, which only this top layer may reach.
    schedule_group.add_command(cancel_edition)
    digest_group.add_command(send_now_command(wake_scheduler))
    for command in (
        briefings,
        db_group,
        demo,
        digest_group,
        editors,
        feeds,
        publications_group,
        publishing_group,
        schedule_group,
        sendgrid_test_server,
        subscribers,
        web,
        worker,
        beat,
        run,
    ):
        app.add_command(command)


_register()


def main() -> None:
    """Entry point of the ``newsletter`` console script."""
    app(prog_name="newsletter")
