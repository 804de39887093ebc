"""The root of the command line: every command registered in one place, and ``db``."""

from __future__ import annotations

import click

from newsletter.cli import load_all
from tests.cli import run

COMMANDS = {
    "beat",
    "briefings",
    "db",
    "demo",
    "digest",
    "editors",
    "feeds",
    "publications",
    "publishing",
    "run",
    "schedule",
    "sendgrid-test-server",
    "subscribers",
    "web",
    "worker",
}
# Commands a group gets from another package, attached by newsletter/cli.py.
LENT = {
    "publications": {"pause", "resume"},
    "schedule": {"cancel"},
    "digest": {"send-now"},
}


def test_every_command_is_registered(cli_env: dict[str, str]) -> None:
    """``newsletter --help`` lists every command, and the lent ones are in their groups."""
    result = run(cli_env, "--help")
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line}
    assert listed == COMMANDS
    commands = load_all()
    assert set(commands) == COMMANDS
    for group, names in LENT.items():
        command = commands[group]
        assert isinstance(command, click.Group)
        assert names <= set(command.commands)


def test_db_upgrade_then_current(cli_env: dict[str, str]) -> None:
    """``db upgrade`` applies the migrations; ``db current`` then says nothing is pending."""
    before = run(cli_env, "db", "current")
    assert before.exit_code == 0, before.output
    assert "migrations pending" in before.output
    upgraded = run(cli_env, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert " is at " in upgraded.output
    after = run(cli_env, "db", "current")
    assert after.exit_code == 0, after.output
    assert "(up to date)" in after.output
