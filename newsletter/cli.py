"""The ``newsletter`` command line: one root group, one sub-group per feature.

Errors the project raises on purpose become one line on stderr: exit code 2 for bad
input (``UserError``), 1 for everything else; never a traceback. Each package
defines its own ``click.Group`` in its ``cli.py``; ``_LOADERS`` below imports each
one and lends it the commands of other packages, here and nowhere else.

Start-up stays cheap (``newsletter --help`` costs about as much CPU as ``python -c
pass`` plus click): a command's module, and with it SQLAlchemy, Celery, Jinja and
argon2, is imported only when that command runs. The root's ``--help`` lists the
commands from ``_SUMMARIES``, which ``tests/unit/test_cli_startup.py`` keeps equal to
each command's own first line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsletter import __version__
from newsletter.errors import NewsletterError, UserError
from newsletter.textrules import terminal

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from newsletter.briefings.models import Briefing
    from newsletter.publications.models import Publication
    from newsletter.runtime import Runtime


class CommandFailed(click.ClickException, NewsletterError):
    """A NewsletterError shown as one line with the right exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class

    def format_message(self) -> str:
        """The message under the terminal rule: a stored value in it cannot drive the terminal."""
        return terminal(self.message)


# The functions one package lends another's commands are imported when they are
# called: loading a group (for its --help) imports no services.


def _is_published(session: Session, briefing: Briefing) -> bool:
    from newsletter.publishing.corrections import is_published

    return is_published(session, briefing)


def _request_plan(rt: Runtime, digest_id: int) -> bool:
    from newsletter.app.apply_requests import request_plan

    return request_plan(rt, digest_id)


def _guard(session: Session, publication: Publication, label: Callable[[str], str]) -> None:
    from newsletter.schedules.slots import slots_guard
    from subscribers.choices import weekly_days_guard

    weekly_days_guard(session, publication, label)
    slots_guard(session, publication, label)


def _load_file_slots(session: Session, path: Path) -> list[str]:
    from newsletter.schedules.slots import load_file_slots

    return load_file_slots(session, path)


def _wake_scheduler(rt: Runtime) -> None:
    from newsletter.processes import wake_scheduler

    wake_scheduler(rt)


def _briefings() -> click.Command:
    from newsletter.briefings.cli import briefings, import_command
    from newsletter.pipeline.alerts_cli import alert_command
    from newsletter.publishing.decisions_cli import DECISIONS

    # Approving, withdrawing and taking down are verbs on a briefing, but they may
    # change what readers see: the publishing package lends them to that group.
    for decision in DECISIONS:
        briefings.add_command(decision)
    briefings.add_command(import_command(_is_published))
    # An alert is a verb on a briefing, but the pipeline sends it, and only this top
    # layer may ask a worker (the task queue) to plan it at once.
    briefings.add_command(alert_command(_request_plan))
    return briefings


def _publications() -> click.Command:
    from newsletter.publications.cli import edit_command, load_command, publications_group
    from newsletter.schedules.cli import pause, resume

    # Pausing belongs to scheduling (a resume skips the editions due meanwhile), but
    # it is a verb on a publication: the schedules package lends it to that group.
    publications_group.add_command(pause)
    publications_group.add_command(resume)
    # Dropping a weekly day that readers chose would silently stop their mail: the
    # subscribers package, above publications, lends the check to edit and load. Named
    # slots live in the schedules package: it refuses local delivery beside them, and
    # stores the slots a loaded file declares.
    publications_group.add_command(edit_command(_guard))
    publications_group.add_command(load_command(_guard, _load_file_slots))
    return publications_group


def _schedule() -> click.Command:
    from newsletter.pipeline.cli import cancel_edition
    from newsletter.schedules.cli import schedule_group

    # Cancelling is the pipeline's (it stops batches mid-send), a verb on a scheduled
    # edition.
    schedule_group.add_command(cancel_edition)
    return schedule_group


def _digest() -> click.Command:
    from newsletter.pipeline.cli import digest_group, send_now_command

    # Send-now wakes the scheduler, which only this top layer may reach.
    digest_group.add_command(send_now_command(_wake_scheduler))
    return digest_group


def _db() -> click.Command:
    from newsletter.migrations.cli import db_group

    return db_group


def _demo() -> click.Command:
    from newsletter.demo import demo

    return demo


def _editors() -> click.Command:
    from newsletter.editors.cli import editors

    return editors


def _feeds() -> click.Command:
    from newsletter.feeds.cli import feeds

    return feeds


def _publishing() -> click.Command:
    from newsletter.publishing.status_cli import publishing_group

    return publishing_group


def _sendgrid_test_server() -> click.Command:
    from newsletter.sendgrid_testserver.cli import sendgrid_test_server

    return sendgrid_test_server


def _subscribers() -> click.Command:
    from subscribers.cli import subscribers

    return subscribers


def _web() -> click.Command:
    from newsletter.app.cli import web

    return web


def _worker() -> click.Command:
    from newsletter.processes import worker

    return worker


def _beat() -> click.Command:
    from newsletter.processes import beat

    return beat


def _run() -> click.Command:
    from newsletter.processes import run

    return run


# Every command: how to load it, and its one-line summary for the root's --help.
_LOADERS: dict[str, Callable[[], click.Command]] = {
    "beat": _beat,
    "briefings": _briefings,
    "db": _db,
    "demo": _demo,
    "digest": _digest,
    "editors": _editors,
    "feeds": _feeds,
    "publications": _publications,
    "publishing": _publishing,
    "run": _run,
    "schedule": _schedule,
    "sendgrid-test-server": _sendgrid_test_server,
    "subscribers": _subscribers,
    "web": _web,
    "worker": _worker,
}
_SUMMARIES: dict[str, str] = {
    "beat": "Run the Celery beat that ticks the scheduler (run exactly one; two are harmless).",
    "briefings": "Import, review and approve briefings.",
    "db": "Database schema.",
    "demo": "Run the whole job on sample data through a real worker, and show where the "
    "results are.",
    "digest": "Editions: assemble, preview, publish, send and report.",
    "editors": "Editor accounts (editor, publisher, admin) and API tokens.",
    "feeds": "RSS, Atom and JSON feeds of the published editions.",
    "publications": "Publications: identity, sender, schedule, scope and look.",
    "publishing": "Public changes: the static export and the WebSub hub, with their retries.",
    "run": "Run the web app, a worker and the beat together (one machine).",
    "schedule": "Schedules: recurring send times, one-off editions, cancellations.",
    "sendgrid-test-server": "Serve a SendGrid-compatible Mail Send API that checks and "
    "records requests.",
    "subscribers": "Subscribers, lists, suppression and personal data.",
    "web": "Serve the web app: archive, feeds, sign-up pages, webhook, editors (127.0.0.1 "
    "default).",
    "worker": "Run a Celery worker (extra arguments go to ``celery worker``, e.g.",
}


class _Group(click.Group):
    """The root group: loads a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_LOADERS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _LOADERS:
            self.add_command(_LOADERS[cmd_name](), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The summaries, not the commands: listing must not import every feature.
        listed = [click.Command(name, help=_SUMMARIES[name]) for name in self.list_commands(ctx)]
        limit = formatter.width - 6 - max(len(name) for name in _LOADERS)
        with formatter.section("Commands"):
            formatter.write_dl([(cmd.name or "", cmd.get_short_help_str(limit)) for cmd in listed])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            raise CommandFailed(str(exc), 2 if isinstance(exc, UserError) else 1) from exc
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # --help, usage errors, ^C: click's own, never a database's
        except Exception as exc:
            unreachable = _unreachable_database(exc)
            if unreachable is None:
                raise
            raise CommandFailed(unreachable, 1) from exc


def _unreachable_database(exc: Exception) -> str | None:
    """One line for a database that cannot be reached (any command), else ``None``.

    Imported here, on the failure path only, and only for SQLAlchemy's own errors:
    start-up (``--help`` included) stays free of SQLAlchemy.
    """
    if not type(exc).__module__.startswith("sqlalchemy"):
        return None
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    lines = str(exc.orig or exc).strip().splitlines() or [type(exc).__name__]
    return (
        f"the database cannot be reached ({lines[0][:300]}); "
        "check NEWSLETTER_DATABASE_URL and that the server is running"
    )


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
def app() -> None:
    """Publish approved newsroom briefings as email digests and feeds."""


def load_all() -> dict[str, click.Command]:
    """Every command, loaded (for tests and documentation tools)."""
    ctx = click.Context(app)
    return {name: app.get_command(ctx, name) for name in _LOADERS}  # type: ignore[misc]


def main() -> None:
    """Entry point of the ``newsletter`` console script."""
    app(prog_name="newsletter")
