"""The ``newsletter briefings`` commands, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.db import Database
from tests.cli import run, run_json
from tests.factories import make_editors

GOOD = """Title: Lighthouse keepers return
Topics: Coasts

What's happened
The harbour board rehired two keepers for the winter season.
More on these topics
-
Coasts are where land meets the sea.
"""

SECOND = """What's happened
A ferry line adds a night crossing between the islands & the mainland.
"""

BAD = """What's happened
Fine so far.
Go deeper
Common question
-
This line is not a question
"""


@pytest.fixture(autouse=True)
def accounts(database: Database) -> None:
    """The editor accounts these tests approve and decide as."""
    make_editors(database, "Ada", "Grace", "Pipeline")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder holding two good briefing files."""
    path = tmp_path / "in"
    path.mkdir()
    (path / "lighthouse.txt").write_text(GOOD)
    (path / "ferry.txt").write_text(SECOND)
    return path


def test_import_list_show_history(cli_env: dict[str, str], folder: Path) -> None:
    """A folder imports as drafts, which list, show and history then describe."""
    result = run(cli_env, "briefings", "import", str(folder))
    assert result.exit_code == 0, result.output
    assert "2 briefings: 2 created" in result.stdout
    listed = run_json(cli_env, "briefings", "list")
    assert len(listed) == 2
    assert "lighthouse-keepers-return" in {row["slug"] for row in listed}
    assert all(row["state"] == "draft" for row in listed)
    shown = run_json(cli_env, "briefings", "show", "lighthouse-keepers-return")
    assert shown["content"]["topics"][0]["name"] == "Coasts"
    text = run(cli_env, "briefings", "show", "lighthouse-keepers-return").stdout
    assert "Lighthouse keepers return" in text
    assert "What's happened" in text
    history = run_json(cli_env, "briefings", "history", "lighthouse-keepers-return")
    assert [(e["action"], e["to_state"]) for e in history] == [("create", "draft")]


def test_approve_reject_withdraw_from_the_command_line(
    cli_env: dict[str, str], folder: Path
) -> None:
    """Editorial commands change state and record the editor and comment."""
    run(cli_env, "briefings", "import", str(folder / "lighthouse.txt"))
    slug = "lighthouse-keepers-return"
    result = run(cli_env, "briefings", "approve", slug, "--editor", "Ada", "--comment", "ok")
    assert "is now approved" in result.stdout
    refused = run(cli_env, "briefings", "reject", slug, "--editor", "Ada")
    assert refused.exit_code == 2
    assert "cannot reject a briefing that is approved" in refused.stderr
    run(cli_env, "briefings", "withdraw", slug, "--editor", "Grace", "--comment", "legal")
    history = run_json(cli_env, "briefings", "history", slug)
    assert [(e["action"], e["editor"], e["comment"]) for e in history][1:] == [
        ("approve", "Ada", "ok"),
        ("withdraw", "Grace", "legal"),
    ]
    assert "withdrawn" in run(cli_env, "briefings", "history", slug).stdout


def test_folder_with_a_bad_file_imports_nothing(cli_env: dict[str, str], folder: Path) -> None:
    """One bad file stops the whole folder, naming the file and line."""
    (folder / "zz-bad.txt").write_text(BAD)
    result = run(cli_env, "briefings", "import", str(folder))
    assert result.exit_code == 2
    assert "zz-bad.txt:6:" in result.stderr
    assert "nothing was imported" in result.stderr
    assert run_json(cli_env, "briefings", "list") == []


def test_every_bad_file_is_listed(cli_env: dict[str, str], folder: Path) -> None:
    """With several bad files, the error lists each one with its line."""
    (folder / "bad-one.txt").write_text(BAD)
    (folder / "bad-two.txt").write_text("")
    result = run(cli_env, "briefings", "import", str(folder))
    assert result.exit_code == 2
    assert "2 of 4 files failed; nothing was imported:" in result.stderr
    assert "bad-one.txt:6:" in result.stderr
    assert "bad-two.txt:1: the file is empty" in result.stderr


def test_keep_going_imports_the_good_files(cli_env: dict[str, str], folder: Path) -> None:
    """--keep-going imports the good files, reports the bad one, and exits 1."""
    (folder / "zz-bad.txt").write_text(BAD)
    result = run(cli_env, "briefings", "import", str(folder), "--keep-going", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert len(report["imported"]) == 2
    assert len(report["failed"]) == 1
    assert "zz-bad.txt:6:" in report["failed"][0]


def test_import_with_approval_and_reimport(cli_env: dict[str, str], folder: Path) -> None:
    """--approve --editor approves on import; importing again changes nothing."""
    first = run(cli_env, "briefings", "import", str(folder), "--approve", "--editor", "Pipeline")
    assert first.exit_code == 0
    assert all(r["state"] == "approved" for r in run_json(cli_env, "briefings", "list"))
    again = run_json(cli_env, "briefings", "import", str(folder))
    assert {r["action"] for r in again["imported"]} == {"unchanged"}
    approved = run_json(cli_env, "briefings", "list", "--state", "approved")
    assert len(approved) == 2


def test_changed_file_makes_a_revision(cli_env: dict[str, str], folder: Path) -> None:
    """Editing an approved file and importing it again asks for approval again."""
    path = folder / "lighthouse.txt"
    run(cli_env, "briefings", "import", str(path), "--approve", "--editor", "Ada")
    path.write_text(GOOD.replace("two keepers", "three keepers"))
    report = run_json(cli_env, "briefings", "import", str(path))
    assert report["imported"][0]["action"] == "revised"
    shown = run_json(cli_env, "briefings", "show", "lighthouse-keepers-return")
    assert (shown["state"], shown["revision"], shown["approved_revision"]) == ("draft", 2, 1)
    old = run_json(cli_env, "briefings", "show", "lighthouse-keepers-return", "--revision", "1")
    assert "two keepers" in old["content"]["lede"][0]
    assert "2 (live: 1)" in run(cli_env, "briefings", "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["briefings", "import", "missing.txt"], "missing.txt: no such file or folder"),
        (
            ["briefings", "import", "x.txt", "--approve", "--editor", "Nobody"],
            "--editor: no editor account 'Nobody'",
        ),
        (["briefings", "show", "nothing-here"], "no briefing with slug 'nothing-here'"),
        (["briefings", "approve", "nothing-here", "--editor", "Ada"], "no briefing"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli_env: dict[str, str], args: list[str], message: str
) -> None:
    """Mistakes print one clear line on stderr and exit with code 2."""
    result = run(cli_env, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_empty_folder_is_reported(cli_env: dict[str, str], tmp_path: Path) -> None:
    """A folder without briefing files is an error, not a silent success."""
    result = run(cli_env, "briefings", "import", str(tmp_path))
    assert result.exit_code == 2
    assert "no .txt or .json briefing files" in result.stderr


def test_editor_without_approve_is_refused(cli_env: dict[str, str], folder: Path) -> None:
    """--editor alone is a mistake worth pointing out."""
    result = run(cli_env, "briefings", "import", str(folder), "--editor", "Ada")
    assert result.exit_code == 2
    assert "--editor: only meaningful with --approve" in result.stderr


def test_schema_is_json_schema(cli_env: dict[str, str]) -> None:
    """The published schema is JSON describing the briefing object."""
    result = run(cli_env, "briefings", "schema")
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert "lede" in schema["properties"]


def test_demo_imports_and_approves_the_samples(cli_env: dict[str, str]) -> None:
    """The demo command leaves at least five approved sample briefings."""
    result = run(cli_env, "demo")
    assert result.exit_code == 0, result.output
    approved = run_json(cli_env, "briefings", "list", "--state", "approved")
    assert len(approved) >= 5
    assert len({topic for row in approved for topic in row["topics"]}) >= 10
    assert run(cli_env, "demo").exit_code == 0  # a second run is fine
