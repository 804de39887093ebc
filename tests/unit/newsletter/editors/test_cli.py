"""``newsletter editors``: add, list, disable, enable, password, token, revoke."""

from __future__ import annotations

import json

from click.testing import CliRunner

from newsletter.cli import app


def _run(env: dict[str, str], *args: str, stdin: str | None = None) -> object:
    return CliRunner().invoke(app, ["editors", *args], env=env, input=stdin)


def test_add_list_disable_enable(cli_env: dict[str, str]) -> None:
    """Accounts are added with a role and a password from stdin, listed, disabled, enabled."""
    result = _run(
        cli_env,
        "add",
        "Ann",
        "--email",
        "ann@example.org",
        "--role",
        "admin",
        "--password-stdin",
        stdin="twelve chars ok\n",
    )
    assert result.exit_code == 0, result.output
    assert "Added Ann <ann@example.org> as admin" in result.output
    assert "no password" in _run(cli_env, "add", "Bot", "--email", "bot@example.org").output
    rows = json.loads(_run(cli_env, "list", "--json").output)
    assert [(r["name"], r["role"], r["has_password"]) for r in rows] == [
        ("Ann", "admin", True),
        ("Bot", "editor", False),
    ]
    assert "Disabled Ann" in _run(cli_env, "disable", "ann").output
    assert "disabled" in _run(cli_env, "list").output
    assert "Enabled Ann" in _run(cli_env, "enable", "Ann").output


def test_bad_input_is_one_line_exit_2(cli_env: dict[str, str]) -> None:
    """A short password, a bad email or an unknown name fails with one clear line."""
    short = _run(
        cli_env, "add", "Ann", "--email", "ann@example.org", "--password-stdin", stdin="short\n"
    )
    assert short.exit_code == 2
    assert "--password-stdin: at least 12 characters" in short.output
    empty = _run(
        cli_env, "add", "Ann", "--email", "ann@example.org", "--password-stdin", stdin="\n"
    )
    assert "no password on standard input" in empty.output
    assert _run(cli_env, "add", "Ann", "--email", "nope").exit_code == 2
    missing = _run(cli_env, "disable", "nobody")
    assert missing.exit_code == 2
    assert "no editor called 'nobody'" in missing.output
    assert "No editors yet" in _run(cli_env, "list").output


def test_token_is_printed_once_and_can_be_revoked(cli_env: dict[str, str]) -> None:
    """The token goes to stdout on its own line; revoking it is recorded."""
    _run(cli_env, "add", "Ann", "--email", "ann@example.org")
    result = _run(cli_env, "token", "Ann", "--name", "ci")
    assert result.exit_code == 0
    token = [line for line in result.output.splitlines() if line.startswith("nlt_")]
    assert len(token) == 1
    assert json.loads(_run(cli_env, "list", "--json").output)[0]["tokens"] == 1
    assert "Revoked API token 1" in _run(cli_env, "revoke", "1").output
    assert json.loads(_run(cli_env, "list", "--json").output)[0]["tokens"] == 0


def test_password_command_reads_stdin(cli_env: dict[str, str]) -> None:
    """The password command sets a new password from stdin."""
    _run(cli_env, "add", "Ann", "--email", "ann@example.org")
    result = _run(cli_env, "password", "Ann", stdin="a brand new password\n")
    assert result.exit_code == 0
    assert "Password of Ann changed" in result.output
