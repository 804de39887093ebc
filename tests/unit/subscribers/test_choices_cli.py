"""The roundup-day guard on ``publications edit`` and ``load`` (as the top layer wires it)."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner, Result

from newsletter.errors import InvalidInputError
from newsletter.publications.cli import edit_command, load_command
from subscribers.choices import weekly_days_guard
from tests.cli import run, run_json

GUARDED = click.Group("publications", commands=[edit_command(weekly_days_guard)])
GUARDED.add_command(load_command(weekly_days_guard))
TOML = """[[publication]]
slug = "evening"
name = "Evening"
from_email = "evening@example.org"
base_url = "https://evening.example.org"
postal_address = "2 Dusk Lane"
weekly_days = {days}
"""


def _guarded(env: dict[str, str], *args: str) -> Result:
    # The root group turns the error into one line and exit code 2; this bare group
    # leaves it as the exception the command raised.
    return CliRunner().invoke(GUARDED, list(args), env=env)


def _refusal(result: Result) -> str:
    assert isinstance(result.exception, InvalidInputError), result.output
    return str(result.exception)


def test_edit_and_load_refuse_dropping_a_chosen_day(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """A day a weekly reader chose stays; the refusal names the option or key; others go."""
    path = tmp_path / "p.toml"
    path.write_text(TOML.format(days='["wed", "sun"]'), encoding="utf-8")
    assert run(cli_env, "publications", "load", str(path)).exit_code == 0
    added = run(
        cli_env,
        "subscribers",
        "add",
        "ann@example.org",
        "--list",
        "evening",
        "--cadence",
        "weekly",
        "--weekly-day",
        "sun",
        "--confirmed",
        "--consent",
        "desk",
    )
    assert added.exit_code == 0, added.output
    refused = _guarded(cli_env, "edit", "evening", "--weekly-days", "wed")
    assert _refusal(refused).startswith("--weekly-days: 1 weekly reader(s) chose a day")
    path.write_text(TOML.format(days='["wed"]'), encoding="utf-8")
    from_file = _guarded(cli_env, "load", str(path))
    assert _refusal(from_file).startswith(f"{path}: key 'weekly_days': 1 weekly reader(s)")
    assert run_json(cli_env, "publications", "show", "evening")["weekly_days"] == ["wed", "sun"]
    kept = _guarded(cli_env, "edit", "evening", "--weekly-days", "sun")
    assert kept.exit_code == 0, kept.output
    assert run_json(cli_env, "publications", "show", "evening")["weekly_days"] == ["sun"]


def test_the_newsletter_command_runs_the_guarded_edit(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """``newsletter publications edit`` itself refuses, as one line and exit code 2."""
    path = tmp_path / "p.toml"
    path.write_text(TOML.format(days='["sat"]'), encoding="utf-8")
    assert run(cli_env, "publications", "load", str(path)).exit_code == 0
    added = run(
        cli_env,
        "subscribers",
        "add",
        "bo@example.org",
        "--list",
        "evening",
        "--cadence",
        "weekly",
        "--weekly-day",
        "sat",
        "--confirmed",
        "--consent",
        "desk",
    )
    assert added.exit_code == 0, added.output
    refused = run(cli_env, "publications", "edit", "evening", "--weekly-days", "none")
    assert refused.exit_code == 2, refused.output
    assert "--weekly-days: 1 weekly reader(s) chose a day" in refused.output
    assert run_json(cli_env, "publications", "show", "evening")["weekly_days"] == ["sat"]
