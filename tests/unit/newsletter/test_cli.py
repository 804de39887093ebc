"""The root of the command line: every command registered in one place, and ``db``."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from newsletter.cli import app, load_all
from newsletter.clicontext import ID
from newsletter.parsing import MAX_ID
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


def _commands(
    commands: dict[str, click.Command], prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in commands.items():
        if isinstance(command, click.Group):
            found.extend(_commands(command.commands, (*prefix, name)))
        else:
            found.append(((*prefix, name), command))
    return found


def test_every_id_argument_is_bounded(cli_env: dict[str, str]) -> None:
    """An id past the database's range is a one-line usage error, not an OverflowError."""
    with_ids = []
    for path, command in _commands(load_all()):
        for param in command.params:
            # A number naming a row (a string id such as digest_group_id is no row id).
            if (
                param.name
                and param.name.endswith("_id")
                and isinstance(param.type, click.types.IntParamType)
            ):
                with_ids.append(path)
                assert param.type == ID, (path, param.name)
    assert ("schedule", "cancel") in with_ids
    assert ("editors", "revoke") in with_ids
    for path in (("schedule", "cancel"), ("editors", "revoke")):
        for value in ("9223372036854775808", str(MAX_ID + 1), "0"):
            result = run(cli_env, *path, value)
            assert result.exit_code == 2, result.output
            assert "Traceback" not in result.output
            assert f"1<=x<={MAX_ID}" in result.output


@pytest.mark.parametrize("command", [("db", "upgrade"), ("db", "current"), ("briefings", "list")])
def test_an_unreachable_database_is_one_line(
    cli_env: dict[str, str], command: tuple[str, ...]
) -> None:
    """A database server that does not answer is one line and exit 1, no traceback (B8)."""
    env = {**cli_env, "NEWSLETTER_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"}
    result = CliRunner().invoke(app, list(command), env=env)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: ")
    assert "NEWSLETTER_DATABASE_URL" in line
    assert "Connection refused" in line or "cannot be reached" in line
