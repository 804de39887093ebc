"""Start-up stays cheap: the root CLI imports no feature, and ``--help`` says the truth.

Every command used to import SQLAlchemy, Celery, FastAPI, Jinja and alembic, and hash
a password with argon2, before parsing its arguments: about 2 s of CPU for ``--help``.
These tests guard the cause: what a fresh interpreter has imported after the root's
``--help``, after every group's and command's ``--help``, and after importing each
command module. One test also times each group's ``--help`` (CPU of a child process)
against a ceiling generous enough for a loaded machine.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from newsletter import cli

ROOT = Path(__file__).resolve().parents[3]
HEAVY = (
    "sqlalchemy",
    "celery",
    "kombu",
    "jinja2",
    "mjml",
    "argon2",
    "fastapi",
    "starlette",
    "alembic",
    "pydantic",
    "psycopg",
    "cryptography",
    "sendgrid",
    "feedgen",
)
# Every module ``newsletter <group> --help`` imports: light by design (the commands
# import the services they use in their bodies). ``pipeline.cli_editions`` and
# ``pipeline.cli_output`` are the heavy halves of ``digest``, imported when it runs.
CLI_MODULES = (
    "newsletter.cli",
    "newsletter.app.cli",
    "newsletter.briefings.cli",
    "newsletter.demo",
    "newsletter.editors.cli",
    "newsletter.feeds.cli",
    "newsletter.migrations.cli",
    "newsletter.pipeline.alerts_cli",
    "newsletter.pipeline.cli",
    "newsletter.pipeline.cli_options",
    "newsletter.processes",
    "newsletter.publications.cli",
    "newsletter.publishing.decisions_cli",
    "newsletter.publishing.status_cli",
    "newsletter.schedules.cli",
    "newsletter.sendgrid_testserver.cli",
    "subscribers.cli",
)

PROBE = """
import json, sys
from click.testing import CliRunner
from newsletter.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
loaded = sorted(sys.modules)
print(json.dumps({"code": result.exit_code, "output": result.output, "modules": loaded}))
"""

# A group's --help, then every one of its commands' --help (nested groups too), in one
# interpreter: what it has imported afterwards.
EVERY_HELP = """
import json, sys
import click
from click.testing import CliRunner
from newsletter.cli import app
failed = []
def walk(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    if result.exit_code != 0:
        failed.append([path, result.output])
    command = app
    for name in path:
        command = command.get_command(click.Context(command), name)
    if isinstance(command, click.Group):
        for name in command.list_commands(click.Context(command)):
            walk([*path, name])
walk([sys.argv[1]])
print(json.dumps({"failed": failed, "modules": sorted(sys.modules)}))
"""


def imported_after(*args: str) -> dict[str, object]:
    """Run the CLI with ``args`` in a fresh interpreter; its output and loaded modules."""
    result: dict[str, object] = fresh(PROBE, *args)
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


def fresh(code: str, *args: str) -> Any:
    """Run ``code`` in a fresh interpreter; the JSON it prints."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("module", CLI_MODULES)
def test_cli_module_imports_nothing_heavy(module: str) -> None:
    """Importing a command module does no work and loads no SQLAlchemy, Jinja, mjml ...

    Each used to import its services at the top (1-2.6 s of CPU for a group's --help).
    """
    result = fresh(f"import json, sys, {module}\nprint(json.dumps(sorted(sys.modules)))")
    assert isinstance(result, list)
    assert heavy(result) == set(), module


@pytest.mark.parametrize("group", sorted(cli._SUMMARIES))
def test_every_help_of_a_group_is_light(group: str) -> None:
    """``newsletter GROUP --help`` and each ``newsletter GROUP COMMAND --help`` import
    nothing heavy (the loaders lend commands without importing their services)."""
    result = fresh(EVERY_HELP, group)
    assert result["failed"] == []
    assert heavy(result["modules"]) == set()


# ``--help`` of any group costs about 0.2 s of CPU here (0.1 s for Python and click,
# 0.1 s for rich); it cost 1-2.6 s before the imports moved into the commands. The
# ceiling leaves room for a loaded CI machine; the import tests above are the exact
# guard, this one measures what a user waits for.
CPU_CEILING = 0.8


@pytest.mark.parametrize("group", ["", *sorted(cli._SUMMARIES)])
def test_group_help_cpu(group: str) -> None:
    """``python -m newsletter GROUP --help`` in a child process: its user + system CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "newsletter", *([group] if group else []), "--help"],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < CPU_CEILING, f"newsletter {group} --help took {cpu:.2f} s of CPU"
