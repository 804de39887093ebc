"""Bad configuration stops every command with one line naming the variable."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bad_settings(tmp_path: Path) -> list[tuple[dict[str, str], str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    a_folder = tmp_path / "a-folder.sqlite3"
    a_folder.mkdir()
    return [
        ({"NEWSLETTER_DATABASE_URL": "foo://x"}, "NEWSLETTER_DATABASE_URL: not a usable database"),
        ({"NEWSLETTER_DATABASE_URL": "notaurl"}, "NEWSLETTER_DATABASE_URL: not a usable database"),
        (
            {"NEWSLETTER_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{_free_port()}/x"},
            "NEWSLETTER_DATABASE_URL: cannot connect to postgresql+psycopg://nobody@127.0.0.1",
        ),
        (
            {"NEWSLETTER_DATABASE_URL": f"sqlite:///{a_folder}"},
            "NEWSLETTER_DATABASE_URL: cannot connect to sqlite:",
        ),
        ({"NEWSLETTER_DATA_DIR": str(a_file)}, "NEWSLETTER_DATA_DIR: cannot use"),
        ({"NEWSLETTER_ENVIRONMENT": "staging"}, "NEWSLETTER_ENVIRONMENT:"),
        ({"NEWSLETTER_BASE_URL": "example.org"}, "NEWSLETTER_BASE_URL: "),
    ]


@pytest.mark.parametrize("case", range(7))
def test_bad_configuration_is_one_line(case: int, cli_env: dict[str, str], tmp_path: Path) -> None:
    """Each bad variable gives exit 1 and one line naming it, never a traceback."""
    overrides, message = _bad_settings(tmp_path)[case]
    result = CliRunner().invoke(app, ["briefings", "list"], env={**cli_env, **overrides})
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
