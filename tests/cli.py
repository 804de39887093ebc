"""Running the ``newsletter`` command line in tests, as a user runs it."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from newsletter.cli import app


def run(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    """Run one command with ``env`` as its environment; exceptions are not swallowed."""
    return CliRunner().invoke(app, list(args), env=env, input=input, catch_exceptions=False)


def run_json(env: dict[str, str], *args: str) -> Any:
    """Run a command with ``--json``, check it succeeded, and parse what it printed."""
    result = run(env, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
