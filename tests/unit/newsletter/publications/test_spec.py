"""``PublicationSpec`` and the TOML loader: every rule, and errors that say where."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import pytest

from newsletter.errors import InvalidInputError
from newsletter.publications.spec import (
    PublicationSpec,
    load_toml,
    validate_spec,
)
from tests.factories import publication_values

SAMPLE = Path(__file__).parents[4] / "newsletter" / "samples" / "publications.toml"


def spec(**overrides: Any) -> PublicationSpec:
    """A spec from valid values with some overridden."""
    return validate_spec(publication_values(**overrides), where="test")


def error_for(**overrides: Any) -> str:
    """The message of the error the given values raise."""
    with pytest.raises(InvalidInputError) as caught:
        spec(**overrides)
    return str(caught.value)


def test_valid_values_are_normalised() -> None:
    """Valid values pass; colours lower-case, URLs lose a trailing slash, days are ordered."""
    result = spec(
        accent_color="#AABBCC",
        base_url="https://news.example.org/",
        weekdays=["FRI", "mon", "fri"],
        send_time="18:30",
        topics=["Politics", " politics ", "Science"],
        from_email="Morning@Example.ORG",
    )
    assert result.accent_color == "#aabbcc"
    assert result.base_url == "https://news.example.org"
    assert result.weekdays == ("mon", "fri")
    assert result.send_time == time(18, 30)
    assert result.topics == ("Politics", "Science")
    assert result.from_email == "Morning@example.org"


def test_defaults_fill_optional_fields() -> None:
    """Only slug, name, sender address, base URL and postal address are required."""
    result = PublicationSpec.model_validate(
        {
            "slug": "x",
            "name": "X Daily",
            "from_email": "x@example.org",
            "base_url": "http://127.0.0.1:8000",
            "postal_address": "Somewhere 1",
        }
    )
    assert result.timezone == "UTC"
    assert result.language == "en"
    assert result.send_time == time(7, 0)
    assert result.max_briefings == 10
    assert result.topics == ()
    assert result.resolved_from_name() == "X Daily"
    assert result.track_opens is False


def test_toml_local_time_is_accepted() -> None:
    """A TOML time value (07:15:00) is accepted like the string "07:15"."""
    assert spec(send_time=time(7, 15, 30)).send_time == time(7, 15)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("slug", "Morning News", "slug: String should match pattern"),
        ("from_email", "not-an-address", "from_email: expected an email address"),
        ("reply_to", "nobody@", "reply_to: expected an email address"),
        ("base_url", "ftp://example.org", "base_url: expected an http:// or https:// URL"),
        ("base_url", "https://example.org/?a=1", "must not have a query or a fragment"),
        ("timezone", "Mars/Olympus", "unknown IANA time zone 'Mars/Olympus'"),
        ("timezone", "../etc", "unknown IANA time zone"),
        ("send_time", "7am", "expected a time as HH:MM"),
        ("send_time", "24:00", "expected a time as HH:MM"),
        ("send_time", 7, "expected a time as HH:MM"),
        ("weekdays", ["mon", "funday"], "unknown day 'funday'"),
        ("weekdays", "mon", "expected a list of day names"),
        ("weekdays", [], "at least one weekday is needed"),
        ("max_briefings", 0, "max_briefings: Input should be greater than or equal to 1"),
        ("max_briefings", 101, "max_briefings: Input should be less than or equal to 100"),
        ("max_briefings", "5", "max_briefings: Input should be a valid integer"),
        ("topics", "Politics", "expected a list of topic names"),
        ("topics", ["ok", ""], "every topic must be a non-empty string"),
        ("topics", ["x" * 121], "at most 120 characters"),
        ("accent_color", "blue", "accent_color: String should match pattern"),
        ("logo_url", "javascript:alert(1)", "logo_url: expected an http:// or https:// URL"),
        ("language", "English", "language: unknown language tag 'English'"),
        ("track_opens", "yes", "track_opens: Input should be a valid boolean"),
        ("postal_address", "", "postal_address: String should have at least 1 character"),
    ],
)
def test_invalid_values_name_the_field(field: str, value: object, expected: str) -> None:
    """Each invalid value is refused with a message naming the field and what was expected."""
    message = error_for(**{field: value})
    assert message.startswith("test: ")
    assert expected in message


def test_unknown_and_missing_keys_are_named() -> None:
    """A misspelt key is 'unknown' and a missing required key is 'missing'."""
    values = publication_values(colour="#000000")
    del values["name"]
    with pytest.raises(InvalidInputError) as caught:
        validate_spec(values, where="here", label=lambda key: f"<{key}>")
    message = str(caught.value)
    assert "<colour>: unknown key" in message
    assert "<name>: required key is missing" in message


def test_empty_optional_addresses_are_allowed() -> None:
    """An empty reply-to and logo URL mean 'none'."""
    result = spec(reply_to="", logo_url="")
    assert (result.reply_to, result.logo_url) == ("", "")
    assert spec(logo_url="https://cdn.example.org/logo.png").logo_url.endswith("logo.png")


def write(tmp_path: Path, text: str) -> Path:
    """A TOML file with this text."""
    path = tmp_path / "pubs.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_file_loads() -> None:
    """The shipped demo publication file is valid: 'morning', all topics, local base URL."""
    [morning] = load_toml(SAMPLE)
    assert morning.slug == "morning"
    assert morning.name == "The Morning Briefing"
    assert morning.topics == ()
    assert morning.base_url == "http://127.0.0.1:8000"


def test_toml_errors_name_file_table_slug_and_key(tmp_path: Path) -> None:
    """A bad value names the file, the [[publication]] index, its slug and the key."""
    path = write(
        tmp_path,
        """
[[publication]]
slug = "one"
name = "One"
from_email = "one@example.org"
base_url = "https://one.example.org"
postal_address = "1 Road"

[[publication]]
slug = "two"
name = "Two"
from_email = "two@example.org"
base_url = "https://two.example.org"
postal_address = "2 Road"
weekdays = ["mon", "someday"]
""",
    )
    with pytest.raises(InvalidInputError) as caught:
        load_toml(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: [[publication]] #2 (slug 'two'): key 'weekdays': ")
    assert "unknown day 'someday'" in message


def test_toml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    """A TOML syntax error is reported with its line number."""
    path = write(tmp_path, '[[publication]]\nslug = "a"\nname = \n')
    with pytest.raises(InvalidInputError, match=r"not valid TOML: .*line 3"):
        load_toml(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "expected at least one [[publication]] table"),
        ("publication = 3\n", "expected at least one [[publication]] table"),
        ("title = 'x'\n", "unknown top-level key 'title'"),
        ("publication = [1]\n", "[[publication]] #1: expected a table"),
    ],
)
def test_toml_structure_is_checked(tmp_path: Path, text: str, expected: str) -> None:
    """The file must hold [[publication]] tables and nothing else."""
    with pytest.raises(InvalidInputError) as caught:
        load_toml(write(tmp_path, text))
    assert expected in str(caught.value)


def test_duplicate_slugs_in_one_file_are_refused(tmp_path: Path) -> None:
    """Two tables with the same slug are refused, naming the first one."""
    table = """
[[publication]]
slug = "same"
name = "Same"
from_email = "s@example.org"
base_url = "https://s.example.org"
postal_address = "1 Road"
"""
    with pytest.raises(InvalidInputError, match=r"#2 \(slug 'same'\): slug 'same' already used"):
        load_toml(write(tmp_path, table * 2))


def test_unreadable_files_are_reported(tmp_path: Path) -> None:
    """A missing file or one that is not UTF-8 gives a clear error naming it."""
    with pytest.raises(InvalidInputError, match=r"cannot read \(No such file"):
        load_toml(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidInputError, match="cannot be read"):
        load_toml(binary)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("name", "Evil\x1b[31m", "U+001B (a control character)"),
        ("from_name", "Desk\r\nBcc: all@example.org", "U+000D (a line break)"),
        ("tagline", "two\nlines", "U+000A (a line break)"),
        ("topics", ["Sport", "Bell\x07"], "U+0007 (a control character)"),
        ("postal_address", "1 Road\x00", "U+0000 (a control character)"),
        ("tagline", "CSI \x9b31m", "U+009B (a control character)"),
    ],
)
def test_text_fields_follow_the_briefings_rules(field: str, value: object, problem: str) -> None:
    """No control characters anywhere, no line breaks in one-line (header-bound) fields
    (issue 17 B4); the postal address may have several lines."""
    assert problem in error_for(**{field: value})
    assert error_for(**{field: value}).startswith(f"test: {field}: ")
    assert spec(postal_address="1 Road\nTown").postal_address == "1 Road\nTown"
