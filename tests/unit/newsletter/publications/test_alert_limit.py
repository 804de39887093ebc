"""A publication's ``alerts_per_day``: in TOML and the spec, ``publications edit``, the back
office settings form (tested with the back office) and the API, validated with the field
named."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.db import Database
from newsletter.errors import InvalidInputError
from newsletter.publications.services import get_publication
from newsletter.publications.spec import load_toml, validate_spec
from tests.cli import run
from tests.factories import make_publication, publication_values

TOML = """
[[publication]]
slug = "morning"
name = "The Morning Test"
from_email = "morning@example.org"
base_url = "https://news.example.org"
postal_address = "1 Test Street"
alerts_per_day = {limit}
"""


def test_the_spec_takes_a_limit_from_0_to_100(tmp_path: Path) -> None:
    """Default 3; 0 (every alert needs an admin) to 100; anything else names the field."""
    assert validate_spec(publication_values(), where="t").alerts_per_day == 3
    path = tmp_path / "p.toml"
    path.write_text(TOML.format(limit=0), encoding="utf-8")
    assert [spec.alerts_per_day for spec in load_toml(path)] == [0]
    path.write_text(TOML.format(limit=101), encoding="utf-8")
    with pytest.raises(InvalidInputError, match="alerts_per_day"):
        load_toml(path)


def test_publications_edit_sets_it(cli_env: dict[str, str], database: Database) -> None:
    """``--alerts-per-day`` changes it; a negative one is refused naming the option."""
    with database.session() as session:
        make_publication(session)
    done = run(cli_env, "publications", "edit", "morning", "--alerts-per-day", "5")
    assert done.exit_code == 0, done.output
    with database.session() as session:
        assert get_publication(session, "morning").alerts_per_day == 5
    refused = run(cli_env, "publications", "edit", "morning", "--alerts-per-day", "-1")
    assert refused.exit_code == 2
    assert "alerts-per-day" in refused.output
