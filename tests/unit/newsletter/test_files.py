"""Files named on the command line: FIFOs, link loops, odd folders (issue 17 B8)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from newsletter.errors import InvalidInputError
from newsletter.files import files_in, open_input, output_folder, read_input
from tests.cli import run


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe no one writes to: opening it for reading the usual way blocks."""
    path = tmp_path / "pipe.txt"
    os.mkfifo(path)
    return path


def test_only_regular_files_are_read(tmp_path: Path, fifo: Path) -> None:
    """A FIFO, a folder, a missing file and a link loop are one-line errors; a file reads."""
    good = tmp_path / "a.txt"
    good.write_bytes(b"hello")
    assert read_input(good) == b"hello"
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    for path, reason in [
        (fifo, "not a regular file"),
        (tmp_path, "a folder"),
        (tmp_path / "missing.txt", "No such file"),
        (loop, "Too many levels of symbolic links"),
    ]:
        with pytest.raises(InvalidInputError, match=f"^{path}: cannot read .*{reason}"):
            open_input(path)


def test_folders_report_what_they_cannot_import(tmp_path: Path, fifo: Path) -> None:
    """FIFOs and symlink loops inside a folder are named, not skipped in silence."""
    (tmp_path / "b.txt").write_text("x")
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop.txt")
    (tmp_path / ".hidden.txt").write_text("x")
    found, problems = files_in(tmp_path, (".txt",))
    assert found == [tmp_path / "b.txt"]
    assert [line.split(": ")[0] for line in problems] == [
        str(tmp_path / "loop.txt"),
        str(fifo),
    ]


def test_output_folders(tmp_path: Path) -> None:
    """An empty name, a file, a path under a file and /proc are refused in one line."""
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for raw, reason in [
        ("", "name a folder"),
        (" ", "name a folder"),
        (str(a_file), "exists and is not a folder"),
        (str(a_file / "sub"), "cannot create"),
        ("/proc/x", "cannot create"),
    ]:
        with pytest.raises(InvalidInputError, match=f"^DIRECTORY: .*{reason}"):
            output_folder(raw)
    assert output_folder(str(tmp_path / "new" / "site")) == tmp_path / "new" / "site"
    assert not (tmp_path / "new").exists()  # checked, not left behind


def test_commands_answer_in_one_line(cli_env: dict[str, str], tmp_path: Path, fifo: Path) -> None:
    """Importing a FIFO ends at once; feeds export "" / FILE/sub / /proc/x write nothing."""
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (("briefings", "import", str(fifo)), "not a regular file"),
        (("briefings", "import", str(tmp_path)), "not readable files"),
        (("publications", "load", str(fifo)), "not a regular file"),
        (("feeds", "export", ""), "name a folder"),
        (("feeds", "export", str(a_file / "sub")), "cannot create"),
        (("feeds", "export", "/proc/x"), "cannot create"),
    ]  # fmt: skip
    before = sorted(os.listdir())
    for args, reason in cases:
        result = run(cli_env, *args)
        assert result.exit_code == 2, (args, result.output)
        assert reason in result.output, (args, result.output)
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) <= 3, result.output
    assert sorted(os.listdir()) == before
