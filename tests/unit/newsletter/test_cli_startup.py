"""Start-up stays cheap: the root CLI imports no feature, and ``--help`` says the truth.

Every command used to import SQLAlchemy, Celery, FastAPI, Jinja and alembic, and hash
a password with argon2, before parsing its arguments: about 2 s of CPU for ``--help``.
These tests guard the cause without timing anything: what a fresh interpreter has
imported after the root's ``--help``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from newsletter import cli

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("sqlalchemy", "celery", "kombu", "jinja2", "argon2", "fastapi", "alembic", "pydantic")

PROBE = """
import json, sys
from click.testing import CliRunner
from newsletter.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
loaded = sorted(sys.modules)
print(json.dumps({"code": result.exit_code, "output": result.output, "modules": loaded}))
"""


def imported_after(*args: str) -> dict[str, object]:
    """Run the CLI with ``args`` in a fresh interpreter; its output and loaded modules."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def heavy(modules: object) -> set[str]:
    """The heavy top-level packages among ``modules``."""
    assert isinstance(modules, list)
    return {name.split(".")[0] for name in modules} & set(HEAVY)


@pytest.mark.parametrize("args", [("--help",), ("--version",)])
def test_root_imports_no_feature(args: tuple[str, ...]) -> None:
    """``newsletter --help`` / ``--version`` load click and nothing heavy."""
    result = imported_after(*args)
    assert result["code"] == 0, result["output"]
    assert heavy(result["modules"]) == set()
    assert "Commands:" in str(result["output"]) or "newsletter, version" in str(result["output"])


@pytest.mark.parametrize("command", ["db", "web", "worker", "beat", "run", "sendgrid-test-server"])
def test_process_commands_help_is_light(command: str) -> None:
    """The help of the commands that start processes or touch the schema imports nothing heavy.

    Their modules reach the runtime, the migrations and the models only when they run.
    """
    result = imported_after(command, "--help")
    assert result["code"] == 0, result["output"]
    assert heavy(result["modules"]) == set()


def test_no_password_hash_at_import() -> None:
    """Importing the editors' services computes no argon2 hash (it cost ~0.7 s of CPU)."""
    probe = (
        "import argon2, json\n"
        "calls = []\n"
        "real = argon2.PasswordHasher.hash\n"
        "def counted(self, *a, **k):\n"
        "    calls.append(1)\n"
        "    return real(self, *a, **k)\n"
        "argon2.PasswordHasher.hash = counted\n"
        "import newsletter.editors.services as services\n"
        "before = len(calls)\n"
        "assert not services.verify_password(None, 'x' * 12)\n"
        "print(json.dumps([before, len(calls)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    # None at import; the dummy hash is made when first needed (an unknown name signs in).
    assert json.loads(done.stdout) == [0, 1]


def test_summaries_are_the_commands_own() -> None:
    """The root's listing (kept in cli._SUMMARIES) matches every command's first line."""
    commands = cli.load_all()
    assert set(cli._SUMMARIES) == set(commands)
    for name, command in commands.items():
        assert command.name == name
        assert cli._SUMMARIES[name] == command.get_short_help_str(limit=500), name


def test_unknown_command_is_refused() -> None:
    """An unknown name is click's usage error, not a crash in the loader."""
    result = imported_after("no-such-command")
    assert result["code"] == 2
    assert "No such command 'no-such-command'" in str(result["output"])


def test_help_lists_every_command_once() -> None:
    """The listing comes from the summaries: one line per command, truncated like click's."""
    ctx = click.Context(cli.app)
    text = cli.app.get_help(ctx)
    listed = [line.split()[0] for line in text.split("Commands:")[1].splitlines() if line]
    assert listed == sorted(cli._SUMMARIES)
