"""The personal-digest settings of a publication: spec rules, TOML, CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from newsletter.errors import InvalidInputError
from newsletter.publications.models import TopicMode
from newsletter.publications.spec import PublicationSpec, load_toml, validate_spec
from tests.cli import run, run_json
from tests.factories import publication_values

ADD = [
    "publications",
    "add",
    "--slug",
    "evening",
    "--name",
    "Evening",
    "--from-email",
    "evening@example.org",
    "--base-url",
    "https://evening.example.org",
    "--postal-address",
    "2 Dusk Lane",
]


def _spec(**overrides: Any) -> PublicationSpec:
    return validate_spec(publication_values(**overrides), where="test")


def test_defaults_are_one_edition_for_everyone() -> None:
    """Without the new keys: the publication's own time, no roundup, topics select only."""
    spec = _spec()
    assert spec.local_delivery is False
    assert spec.weekly_days == ()
    assert spec.weekly_max == 10
    assert spec.topic_mode is TopicMode.ONLY


def test_values_are_normalised() -> None:
    """Days in week order, case-folded and once each; the topic mode in any case."""
    spec = _spec(
        local_delivery=True, weekly_days=["SUN", "fri", "sun"], weekly_max=5, topic_mode="First"
    )
    assert spec.weekly_days == ("fri", "sun")
    assert spec.topic_mode is TopicMode.FIRST
    assert spec.model_dump(mode="json")["topic_mode"] == "first"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("weekly_days", ["mon", "someday"], "weekly_days: unknown day 'someday'"),
        ("weekly_days", "mon", "weekly_days: expected a list of day names"),
        ("weekly_max", 0, "weekly_max: Input should be greater than or equal to 1"),
        ("weekly_max", 101, "weekly_max: Input should be less than or equal to 100"),
        ("weekly_max", "5", "weekly_max: Input should be a valid integer"),
        ("topic_mode", "mine", "topic_mode: expected one of only, first"),
        ("local_delivery", "yes", "local_delivery: Input should be a valid boolean"),
    ],
)
def test_invalid_values_name_the_field(field: str, value: object, expected: str) -> None:
    """Each refused value names its field and what was expected."""
    with pytest.raises(InvalidInputError) as caught:
        _spec(**{field: value})
    assert expected in str(caught.value)


def test_toml_carries_the_settings(tmp_path: Path) -> None:
    """A [[publication]] table may set them; a bad one names the file, table and key."""
    path = tmp_path / "p.toml"
    path.write_text(
        '[[publication]]\nslug = "m"\nname = "M"\nfrom_email = "m@example.org"\n'
        'base_url = "https://m.example.org"\npostal_address = "1 St"\n'
        'local_delivery = true\nweekly_days = ["sun"]\nweekly_max = 7\ntopic_mode = "first"\n',
        encoding="utf-8",
    )
    [spec] = load_toml(path)
    assert (spec.local_delivery, spec.weekly_days, spec.weekly_max) == (True, ("sun",), 7)
    path.write_text(path.read_text().replace('["sun"]', '["sunday"]'), encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        load_toml(path)
    assert "key 'weekly_days': unknown day 'sunday'" in str(caught.value)


def test_cli_add_and_edit_flags(cli_env: dict[str, str]) -> None:
    """``add`` and ``edit`` take the flags; ``--weekly-days none`` turns the roundup off."""
    added = run(
        cli_env,
        *ADD,
        "--local-delivery",
        "--weekly-days",
        "sun,wed",
        "--weekly-max",
        "6",
        "--topic-mode",
        "first",
    )
    assert added.exit_code == 0, added.output
    shown = run_json(cli_env, "publications", "show", "evening")
    assert shown["local_delivery"] is True
    assert shown["weekly_days"] == ["wed", "sun"]
    assert shown["weekly_max"] == 6
    assert shown["topic_mode"] == "first"
    table = run(cli_env, "publications", "list").stdout
    assert "local" in table  # cells may wrap in a narrow terminal
    assert "(max 6)" in table
    edited = run(
        cli_env, "publications", "edit", "evening", "--weekly-days", "none", "--no-local-delivery"
    )
    assert edited.exit_code == 0, edited.output
    shown = run_json(cli_env, "publications", "show", "evening")
    assert shown["weekly_days"] == []
    assert shown["local_delivery"] is False
    assert shown["weekly_max"] == 6


def test_cli_bad_values_name_the_option_and_change_nothing(cli_env: dict[str, str]) -> None:
    """A bad day or topic mode is one line naming the option, exit 2, nothing stored."""
    run(cli_env, *ADD)
    bad_day = run(cli_env, "publications", "edit", "evening", "--weekly-days", "mon,funday")
    assert bad_day.exit_code == 2
    assert "--weekly-days: unknown day 'funday'" in bad_day.stderr
    bad_mode = run(cli_env, "publications", "edit", "evening", "--topic-mode", "all")
    assert bad_mode.exit_code == 2
    assert "--topic-mode: expected one of only, first" in bad_mode.stderr
    bad_max = run(cli_env, "publications", "edit", "evening", "--weekly-max", "0")
    assert "--weekly-max: Input should be greater than or equal to 1" in bad_max.stderr
    shown = run_json(cli_env, "publications", "show", "evening")
    assert (shown["weekly_days"], shown["topic_mode"], shown["weekly_max"]) == ([], "only", 10)
