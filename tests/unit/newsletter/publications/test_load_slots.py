"""``publications load`` with ``[[publication.slot]]`` tables: stored, changed, removed;
bad slots refused naming the file, table and key, nothing changed; local delivery and
slots never together."""

from __future__ import annotations

from pathlib import Path

import newsletter.cli  # noqa: F401  (first: the root CLI imports every feature's commands)
from tests.cli import run, run_json

SAMPLE = Path(__file__).parents[4] / "newsletter" / "samples" / "publications.toml"
MORNING = """
[[publication.slot]]
name = "morning"
time = "07:00"
days = "mon-fri"
cutoff_minutes = 30
"""
EVENING = """
[[publication.slot]]
name = "evening"
time = 18:00:00
days = ["mon", "tue", "wed", "thu", "fri"]
"""


def write(tmp_path: Path, extra: str) -> Path:
    """The sample publications file with ``extra`` appended to its (only) publication."""
    path = tmp_path / "publications.toml"
    path.write_text(SAMPLE.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


def slots(env: dict[str, str]) -> list[tuple[str, str, int]]:
    rows = run_json(env, "schedule", "slot", "list", "--publication", "morning")
    return [(row["name"], row["time"], row["cutoff_minutes"]) for row in rows]


def test_slots_are_loaded_changed_and_removed(cli_env: dict[str, str], tmp_path: Path) -> None:
    first = run(cli_env, "publications", "load", str(write(tmp_path, MORNING + EVENING)))
    assert first.exit_code == 0, first.output
    assert "added   slot morning/morning" in first.stdout
    assert slots(cli_env) == [("morning", "07:00", 30), ("evening", "18:00", 0)]
    again = run(cli_env, "publications", "load", str(write(tmp_path, MORNING + EVENING)))
    assert "slot" not in again.stdout  # nothing changed
    moved = MORNING.replace('"07:00"', '"06:30"')
    changed = run(cli_env, "publications", "load", str(write(tmp_path, moved)))
    assert "changed slot morning/morning" in changed.stdout
    assert "removed slot morning/evening" in changed.stdout
    assert slots(cli_env) == [("morning", "06:30", 30)]
    untouched = run(cli_env, "publications", "load", str(SAMPLE))  # no slot key: kept
    assert untouched.exit_code == 0
    assert slots(cli_env) == [("morning", "06:30", 30)]
    cleared = run(cli_env, "publications", "load", str(write(tmp_path, "slot = []\n")))
    assert "removed slot morning/morning" in cleared.stdout
    assert slots(cli_env) == []


def test_bad_slots_are_refused_naming_the_key(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert run(cli_env, "publications", "load", str(SAMPLE)).exit_code == 0
    cases = {
        MORNING.replace('"07:00"', '"7am"'): "[[publication.slot]] #1: key 'time'",
        MORNING.replace('"morning"', '"Morning"'): "[[publication.slot]] #1: key 'name'",
        MORNING.replace("30", "-3"): "key 'cutoff_minutes'",
        MORNING + "colour = 1\n": "key 'colour': unknown key",
        MORNING + MORNING.replace('"morning"', '"early"'): "[[publication.slot]]: 'early'",
        MORNING.replace('days = "mon-fri"\n', ""): "key 'days': required key is missing",
    }
    for extra, message in cases.items():
        result = run(cli_env, "publications", "load", str(write(tmp_path, extra)))
        assert result.exit_code == 2, extra
        assert message in result.stderr, (extra, result.stderr)
        assert "[[publication]] #1 (slug 'morning')" in result.stderr
    assert slots(cli_env) == []


def test_local_delivery_and_slots_are_refused_together(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    both = write(tmp_path, MORNING).read_text(encoding="utf-8")
    both = both.replace("[[publication.slot]]", "local_delivery = true\n\n[[publication.slot]]", 1)
    path = tmp_path / "both.toml"
    path.write_text(both, encoding="utf-8")
    result = run(cli_env, "publications", "load", str(path))
    assert result.exit_code == 2
    assert "key 'local_delivery': named slots need" in result.stderr
    assert run(cli_env, "publications", "load", str(write(tmp_path, MORNING))).exit_code == 0
    edit = run(cli_env, "publications", "edit", "morning", "--local-delivery")
    assert edit.exit_code == 2, edit.output
    assert "morning has named slots" in edit.stderr
    assert not run_json(cli_env, "publications", "show", "morning")["local_delivery"]
