"""The ``newsletter publications`` commands, run as a user runs them."""

from __future__ import annotations

from pathlib import Path

from tests.cli import run, run_json

SAMPLE = Path(__file__).parents[4] / "newsletter" / "samples" / "publications.toml"

ADD = [
    "publications",
    "add",
    "--slug",
    "evening",
    "--name",
    "The [b]Evening[/b] Digest",
    "--from-email",
    "evening@example.org",
    "--base-url",
    "https://evening.example.org/",
    "--postal-address",
    "2 Dusk Lane",
    "--weekdays",
    "mon,wed",
    "--topics",
    "Arts, Science",
    "--send-time",
    "18:00",
    "--timezone",
    "America/New_York",
    "--track-opens",
]


def test_add_then_show_and_list(cli_env: dict[str, str]) -> None:
    """``add`` stores every option; ``show`` and ``list`` print it, as JSON too."""
    result = run(cli_env, *ADD)
    assert result.exit_code == 0, result.output
    assert "Created publication evening." in result.stdout
    shown = run_json(cli_env, "publications", "show", "evening")
    assert shown["name"] == "The [b]Evening[/b] Digest"
    assert shown["base_url"] == "https://evening.example.org"
    assert shown["weekdays"] == ["mon", "wed"]
    assert shown["topics"] == ["Arts", "Science"]
    assert shown["send_time"] == "18:00"
    assert shown["track_opens"] is True
    assert shown["from_name"] == "The [b]Evening[/b] Digest"
    listed = run_json(cli_env, "publications", "list")
    assert [row["slug"] for row in listed] == ["evening"]
    table = run(cli_env, "publications", "list")
    # Rich markup in user text is printed literally, not interpreted.
    assert "[b]" in table.stdout
    assert "Science" in table.stdout
    detail = run(cli_env, "publications", "show", "evening")
    assert "America/New_York" in detail.stdout
    assert "The [b]Evening[/b] Digest" in detail.stdout


def test_edit_changes_only_given_options(cli_env: dict[str, str]) -> None:
    """``edit`` changes the given fields; an empty --topics means every topic."""
    run(cli_env, *ADD)
    result = run(cli_env, "publications", "edit", "evening", "--topics", "", "--max-briefings", "4")
    assert result.exit_code == 0, result.output
    shown = run_json(cli_env, "publications", "show", "evening")
    assert shown["topics"] == []
    assert shown["max_briefings"] == 4
    assert shown["weekdays"] == ["mon", "wed"]


def test_edit_without_options_is_a_usage_error(cli_env: dict[str, str]) -> None:
    """``edit`` with nothing to change says so."""
    run(cli_env, *ADD)
    result = run(cli_env, "publications", "edit", "evening")
    assert result.exit_code == 2
    assert "nothing to change" in result.stderr


def test_bad_option_is_one_line_naming_the_option(cli_env: dict[str, str]) -> None:
    """An invalid value gives one line naming the CLI option, exit code 2, nothing stored."""
    result = run(cli_env, *[a if a != "18:00" else "6pm" for a in ADD])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "publications add: --send-time: expected a time as HH:MM" in lines[0]
    assert run_json(cli_env, "publications", "list") == []


def test_edit_error_names_the_option(cli_env: dict[str, str]) -> None:
    """An invalid edit names the option and exits 2."""
    run(cli_env, *ADD)
    result = run(cli_env, "publications", "edit", "evening", "--accent-color", "red")
    assert result.exit_code == 2
    assert "--accent-color: String should match pattern" in result.stderr
    renamed = run(cli_env, "publications", "edit", "evening", "--new-slug", "Bad Slug")
    assert "--new-slug: String should match pattern" in renamed.stderr


def test_edit_can_rename(cli_env: dict[str, str]) -> None:
    """``--new-slug`` renames a publication."""
    run(cli_env, *ADD)
    result = run(cli_env, "publications", "edit", "evening", "--new-slug", "dusk")
    assert result.exit_code == 0, result.output
    assert "Updated publication dusk." in result.stdout
    assert [row["slug"] for row in run_json(cli_env, "publications", "list")] == ["dusk"]


def test_unknown_slug_is_one_line_exit_2(cli_env: dict[str, str]) -> None:
    """Showing an unknown publication prints one line and exits 2."""
    result = run(cli_env, "publications", "show", "nope")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: unknown publication 'nope'"


def test_load_sample_file_twice(cli_env: dict[str, str]) -> None:
    """The sample file loads; loading it again reports it unchanged."""
    first = run(cli_env, "publications", "load", str(SAMPLE))
    assert first.exit_code == 0, first.output
    assert first.stdout.split() == ["created", "morning"]
    second = run(cli_env, "publications", "load", str(SAMPLE))
    assert second.stdout.split() == ["unchanged", "morning"]


def test_load_bad_file_is_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    """A TOML syntax error is one line with the file and line, exit 2."""
    path = tmp_path / "bad.toml"
    path.write_text("[[publication]]\nslug = \n")
    result = run(cli_env, "publications", "load", str(path))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"{path}: not valid TOML" in result.stderr
    assert "line 2" in result.stderr


def test_empty_list_says_how_to_start(cli_env: dict[str, str]) -> None:
    """With no publications, ``list`` says how to load some."""
    assert "No publications yet" in run(cli_env, "publications", "list").stdout
